using System.Buffers;
using System.Text;
using CucmSim.Protocols.Syslog;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Syslog;

public sealed class SyslogCodecTests
{
    // As util-linux logger writes them (logger --rfc3164 / --rfc5424).
    private const string Bsd = "<13>Dec  3 16:50:07 cucm-pub root: link down on port 3";
    private const string Ietf = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] \uFEFFAn application event log entry...";

    private static SyslogMessage Parse(string text)
    {
        Assert.Equal(OperationStatus.Done, SyslogCodec.TryParse(Encoding.UTF8.GetBytes(text), out var message, out var error));
        Assert.Null(error);
        return message!;
    }

    [Fact]
    public void Rfc3164_message_yields_facility_severity_host_app_and_text()
    {
        var m = Parse(Bsd);
        Assert.Equal(SyslogFormat.Rfc3164, m.Format);
        Assert.Equal(("user", "notice"), (m.FacilityName, m.SeverityName));
        Assert.Equal("Dec  3 16:50:07", m.Timestamp);
        Assert.Equal("cucm-pub", m.Host);
        Assert.Equal("root", m.App);
        Assert.Equal("link down on port 3", m.Message);
    }

    [Fact]
    public void Rfc3164_tag_with_pid_and_cisco_body()
    {
        var m = Parse("<187>Nov 24 04:26:46 10.0.0.5 ccm[4242]: %UC_CALLMANAGER-3-DeviceTransientConnection: %[DeviceName=SEP001122334455]: x\n");
        Assert.Equal(("local7", "err"), (m.FacilityName, m.SeverityName));
        Assert.Equal("10.0.0.5", m.Host);
        Assert.Equal("ccm", m.App);
        Assert.Equal("4242", m.ProcId);
        Assert.StartsWith("%UC_CALLMANAGER-3-", m.Message, StringComparison.Ordinal);
        Assert.EndsWith(": x", m.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rfc3164_without_a_header_keeps_everything_as_text()
    {
        var m = Parse("<0>just text: here");
        Assert.Equal(("kern", "emerg"), (m.FacilityName, m.SeverityName));
        Assert.Null(m.Host);
        Assert.Null(m.App);
        Assert.Equal("just text: here", m.Message);
    }

    [Fact]
    public void Rfc5424_example_of_the_rfc_parses_every_field()
    {
        var m = Parse(Ietf);
        Assert.Equal(SyslogFormat.Rfc5424, m.Format);
        Assert.Equal(("local4", "notice"), (m.FacilityName, m.SeverityName));
        Assert.Equal("2003-10-11T22:14:15.003Z", m.Timestamp);
        Assert.Equal("mymachine.example.com", m.Host);
        Assert.Equal("evntslog", m.App);
        Assert.Null(m.ProcId);
        Assert.Equal("ID47", m.MsgId);
        Assert.Equal("[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]", m.StructuredData);
        Assert.Equal("An application event log entry...", m.Message);
    }

    [Fact]
    public void Rfc5424_structured_data_escapes_and_nil_fields()
    {
        var m = Parse("<34>1 - - - - - [a@1 x=\"q\\]\\\"z\"]");
        Assert.Null(m.Timestamp);
        Assert.Null(m.Host);
        Assert.Equal("[a@1 x=\"q\\]\\\"z\"]", m.StructuredData);
        Assert.Equal(string.Empty, m.Message);
    }

    [Theory]
    [InlineData(SyslogFormat.Rfc3164)]
    [InlineData(SyslogFormat.Rfc5424)]
    public void Written_messages_parse_back(SyslogFormat format)
    {
        var time = new DateTimeOffset(2026, 3, 7, 9, 8, 7, TimeSpan.Zero);
        var text = format == SyslogFormat.Rfc3164
            ? SyslogCodec.Format3164(16, 3, time, "gw1", "probe", "hello: world")
            : SyslogCodec.Format5424(16, 3, time, "gw1", "probe", "77", "M1", "hello: world");
        var m = Parse(text);
        Assert.Equal(format, m.Format);
        Assert.Equal((16, 3, "gw1", "probe", "hello: world"), (m.Facility, m.Severity, m.Host, m.App, m.Message));
    }

    [Fact]
    public void Every_split_of_a_multi_segment_datagram_parses_the_same()
    {
        var bytes = Encoding.UTF8.GetBytes(Ietf);
        foreach (var sequence in Segments.AllSplits(bytes).Append(Segments.ByteAtATime(bytes)))
        {
            Assert.Equal(OperationStatus.Done, SyslogCodec.TryParse(sequence, out var m, out _));
            Assert.Equal("ID47", m!.MsgId);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("<")]
    [InlineData("<13")]
    [InlineData("<192>too big")]
    [InlineData("<013>leading zero")]
    [InlineData("<1234>four digits")]
    [InlineData("no pri at all")]
    [InlineData("<13>1 2026-01-01T00:00:00Z host")]
    [InlineData("<13>1 yesterday host app - - - text")]
    [InlineData("<13>1 2026-01-01T00:00:00Z host app - - [unterminated x=\"1\"")]
    [InlineData("<13>1 2026-01-01T00:00:00Z host app - - [a@1]text")]
    public void Malformed_messages_are_invalid_with_a_reason(string text)
    {
        Assert.Equal(OperationStatus.InvalidData, SyslogCodec.TryParse(Encoding.UTF8.GetBytes(text), out var m, out var error));
        Assert.Null(m);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Every_truncation_either_parses_or_is_invalid()
    {
        var bytes = Encoding.UTF8.GetBytes(Ietf);
        for (var i = 0; i <= bytes.Length; i++)
        {
            var status = SyslogCodec.TryParse(Segments.Of(bytes[..(i / 2)], bytes[(i / 2)..i]), out var m, out _);
            Assert.True(status == OperationStatus.Done ? m is not null : status == OperationStatus.InvalidData && m is null);
        }
    }

    [Fact]
    public void Oversized_datagram_is_refused_before_parsing()
    {
        var bytes = Encoding.ASCII.GetBytes("<13>" + new string('x', SyslogCodec.MaxMessageSize));
        Assert.Equal(OperationStatus.InvalidData, SyslogCodec.TryParse(Segments.Of(bytes[..100], bytes[100..]), out _, out var error));
        Assert.Contains("longer", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(514);
        for (var i = 0; i < 5000; i++)
        {
            var bytes = new byte[random.Next(0, 300)];
            random.NextBytes(bytes);
            if (i % 3 == 0 && bytes.Length > 6)
            {
                "<13>1 "u8.CopyTo(bytes);
            }

            var status = SyslogCodec.TryParse(bytes, out _, out _);
            Assert.True(status is OperationStatus.Done or OperationStatus.InvalidData);
        }
    }
}
