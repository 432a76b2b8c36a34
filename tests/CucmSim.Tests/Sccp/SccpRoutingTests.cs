using System.Net;
using System.Net.Sockets;
using CucmSim.Clients.Sccp;
using CucmSim.Protocols.Sccp;
using CucmSim.Serve;
using CucmSim.Serve.Sccp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sccp;

/// <summary>Phone to phone: the server rings the dialled phone and gives each phone the other's media address.</summary>
public sealed class SccpRoutingTests
{
    private const string CallerName = "SEP00000000A001";
    private const string CalleeName = "SEP00000000B002";

    /// <summary>100000 + (0xB002 mod 900000): the callee's number by the rule.</summary>
    private const string CalleeNumber = "145058";

    [Theory]
    [InlineData((byte)17)]
    [InlineData((byte)11)]
    public async Task A_call_rings_the_other_phone_and_on_answer_media_flows_directly_between_them(byte version)
    {
        await using var server = await SccpTestHost.StartAsync();
        await using var caller = await PhoneAsync(server, CallerName, version);
        await using var callee = await PhoneAsync(server, CalleeName, version);
        Assert.Equal(CalleeNumber, SccpDirectory.Number(CalleeName, 1));

        await caller.DialAsync(CalleeNumber).DefaultTimeout();
        var ring = await callee.ExpectCallStateAsync(default, SccpCallState.RingIn).DefaultTimeout();
        var info = (SccpCallInfo)await callee.ExpectAsync(default, SccpMessageId.CallInfo).DefaultTimeout();
        Assert.Equal((CallerName, SccpDirectory.Number(CallerName, 1), CalleeNumber, SccpCallInfo.Inbound), (info.CallingName, info.Calling, info.Called, info.CallType));
        Assert.Equal(SccpSetRinger.InsideRing, ((SccpSetRinger)await callee.ExpectAsync(default, SccpMessageId.SetRinger).DefaultTimeout()).Mode);
        await caller.ExpectCallStateAsync(default, SccpCallState.RingOut).DefaultTimeout();
        await caller.ExpectToneAsync(SccpStartTone.AlertingTone).DefaultTimeout();

        await callee.AnswerAsync(ring).DefaultTimeout();
        var calleeOpen = callee.OpenMediaAsync();
        var callerOpen = caller.OpenMediaAsync();
        using var calleeMedia = await calleeOpen.DefaultTimeout();
        using var callerMedia = await callerOpen.DefaultTimeout();

        // Each phone is told to send where the other said it receives: no server port in between.
        Assert.Equal(calleeMedia.Local, callerMedia.Target);
        Assert.Equal(callerMedia.Local, calleeMedia.Target);
        Assert.Equal(0, server.Rtp!.Stats().Allocated);
        Assert.Equal(callerMedia.Open.ConferenceId, calleeMedia.Start.ConferenceId);

        // RTP both ways, phone to phone.
        Assert.Equal(5, await RtpAsync(callerMedia, calleeMedia, 5));
        Assert.Equal(5, await RtpAsync(calleeMedia, callerMedia, 5));

        await caller.HangUpAsync().DefaultTimeout();
        foreach (var phone in new[] { caller, callee })
        {
            await phone.ExpectAsync(default, SccpMessageId.StopMediaTransmission).DefaultTimeout();
            await phone.ExpectAsync(default, SccpMessageId.CloseReceiveChannel).DefaultTimeout();
            await phone.ExpectCallStateAsync(default, SccpCallState.OnHook).DefaultTimeout();
        }

        var record = await server.WaitForRecordAsync(r => r.Kind == "sccp-route");
        Assert.Equal("completed", record.Verdict);
        Assert.Equal((CallerName, CalleeName, "onhook-caller"), (record.Detail!["caller"], record.Detail["callee"], record.Detail["reason"]));
        Assert.Equal(callerMedia.Local.ToString(), record.Detail["callerMedia"]);
        Assert.Equal((1, 1, 0, 0), (server.Context.Routed.Sccp.Attempts, server.Context.Routed.Sccp.Answered, server.Context.Routed.Sccp.Failed, server.Context.Routed.Sccp.Active));

        // Both are free again: the callee calls back and hangs up while it rings; the caller's ringer stops.
        await callee.HangUpAsync().DefaultTimeout();
        await callee.DialAsync(SccpDirectory.Number(CallerName, 1)).DefaultTimeout();
        await caller.ExpectCallStateAsync(default, SccpCallState.RingIn).DefaultTimeout();
        await callee.HangUpAsync().DefaultTimeout();
        await RingerOffAsync(caller).DefaultTimeout();
        await caller.ExpectCallStateAsync(default, SccpCallState.OnHook).DefaultTimeout();
    }

    [Fact]
    public async Task A_phone_off_hook_is_busy_and_an_unanswered_call_ends_in_reorder()
    {
        await using var server = await SccpTestHost.StartAsync(new SccpOptions { RingTimeout = TimeSpan.FromSeconds(1) });
        await using var caller = await PhoneAsync(server, CallerName, 17);
        await using var callee = await PhoneAsync(server, CalleeName, 17);

        // Busy: the callee is off hook.
        await callee.SendAsync(new SccpHook(SccpMessageId.OffHook, 1, 0)).DefaultTimeout();
        await callee.ExpectCallStateAsync(default, SccpCallState.OffHook).DefaultTimeout();
        await caller.DialAsync(CalleeNumber).DefaultTimeout();
        await caller.ExpectCallStateAsync(default, SccpCallState.Busy).DefaultTimeout();
        await caller.ExpectToneAsync(SccpStartTone.BusyTone).DefaultTimeout();
        Assert.Equal("busy", (await server.WaitForRecordAsync(r => r.Kind == "sccp-route")).Verdict);
        await caller.HangUpAsync().DefaultTimeout();
        await callee.HangUpAsync().DefaultTimeout();
        await caller.ExpectCallStateAsync(default, SccpCallState.OnHook).DefaultTimeout();

        // No answer within the ring time: the ringer stops, the caller hears reorder.
        await caller.DialAsync(CalleeNumber).DefaultTimeout();
        await callee.ExpectCallStateAsync(default, SccpCallState.RingIn).DefaultTimeout();
        await caller.ExpectToneAsync(SccpStartTone.ReorderTone).DefaultTimeout();
        Assert.Contains("NO ANSWER " + CalleeNumber, caller.Notifications);
        await RingerOffAsync(callee).DefaultTimeout();
        await callee.ExpectCallStateAsync(default, SccpCallState.OnHook).DefaultTimeout();
        Assert.Equal("no-answer", (await server.WaitForRecordAsync(r => r.Kind == "sccp-route" && r.Verdict != "busy")).Verdict);
        Assert.Equal((2, 0, 2), (server.Context.Routed.Sccp.Attempts, server.Context.Routed.Sccp.Answered, server.Context.Routed.Sccp.Failed));
        await caller.HangUpAsync().DefaultTimeout();
        await caller.ExpectCallStateAsync(default, SccpCallState.OnHook).DefaultTimeout();

        // A number no phone holds: reorder, as before, as soon as no registered number starts with the digits (here
        // the fourth); the test extension still answers from the pool.
        var unknown = await caller.CallAsync("199999").DefaultTimeout();
        Assert.Equal("UNKNOWN NUMBER 1999", unknown.Error);
        var echo = await caller.CallAsync("1000", rtpPackets: 3).DefaultTimeout();
        Assert.True(echo.Connected, echo.Error);
    }

    [Fact]
    public async Task A_callee_whose_connection_drops_ends_the_call_for_the_caller()
    {
        await using var server = await SccpTestHost.StartAsync();
        await using var caller = await PhoneAsync(server, CallerName, 17);
        var callee = await PhoneAsync(server, CalleeName, 17);
        await caller.DialAsync(CalleeNumber).DefaultTimeout();
        var ring = await callee.ExpectCallStateAsync(default, SccpCallState.RingIn).DefaultTimeout();
        await callee.AnswerAsync(ring).DefaultTimeout();
        var calleeOpen = callee.OpenMediaAsync();
        using var callerMedia = await caller.OpenMediaAsync().DefaultTimeout();
        using (await calleeOpen.DefaultTimeout())
        {
            await callee.DisposeAsync();
        }

        await caller.ExpectAsync(default, SccpMessageId.StopMediaTransmission).DefaultTimeout();
        await caller.ExpectAsync(default, SccpMessageId.CloseReceiveChannel).DefaultTimeout();
        await caller.ExpectCallStateAsync(default, SccpCallState.OnHook).DefaultTimeout();
        Assert.Equal("connection closed", (await server.WaitForRecordAsync(r => r.Kind == "sccp-route")).Detail!["reason"]);
        Assert.Equal(0, server.Context.Routed.Sccp.Active);
    }

    /// <summary>Receives until SetRinger turns the ringer off (the one that started it comes first).</summary>
    private static async Task RingerOffAsync(SccpPhone phone)
    {
        while (((SccpSetRinger)await phone.ExpectAsync(default, SccpMessageId.SetRinger)).Mode != SccpSetRinger.Off)
        {
        }
    }

    private static async Task<SccpPhone> PhoneAsync(SimServer server, string name, byte version)
    {
        var phone = new SccpPhone(new SccpPhoneOptions { DeviceName = name, ProtocolVersion = version });
        await phone.ConnectAsync(server.Sccp()).DefaultTimeout();
        Assert.True((await phone.RegisterAsync().DefaultTimeout()).Accepted);
        Assert.Equal(SccpDirectory.Number(name, 1), (await phone.BootAsync().DefaultTimeout()).DirectoryNumber);
        return phone;
    }

    /// <summary>Sends <paramref name="count"/> RTP packets from one phone's socket to where it was told; counts what the other's socket got.</summary>
    private static async Task<int> RtpAsync(SccpMediaChannel from, SccpMediaChannel to, int count)
    {
        var packet = new byte[12 + 160];
        packet[0] = 0x80;
        var buffer = new byte[2048];
        var got = 0;
        for (var i = 0; i < count; i++)
        {
            packet[3] = (byte)i;
            await from.Rtp.SendToAsync(packet, SocketFlags.None, from.Target).DefaultTimeout();
            var n = await to.Rtp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)).DefaultTimeout(TimeSpan.FromSeconds(5));
            Assert.Equal(from.Local, (IPEndPoint)n.RemoteEndPoint);
            got += n.ReceivedBytes == packet.Length && buffer[3] == (byte)i ? 1 : 0;
        }

        return got;
    }
}
