using System.Buffers;
using CucmSim.Protocols.Mgcp;

namespace CucmSim.Protocols.Tests.Mgcp;

/// <summary>Inputs the fuzzer (loadtests/fuzz, harness mgcp) found; each must be refused with a reason, not throw.</summary>
public sealed class MgcpFuzzFindingsTests
{
    [Theory]
    [InlineData("20")] // a single space: the first line splits into no words
    [InlineData("2020200D0A")] // spaces only, then CRLF
    [InlineData("20200A583A20310D0A")] // spaces only on the first line, a parameter after
    public void A_first_line_of_spaces_is_refused_without_a_transaction_id(string hex)
    {
        var status = MgcpCodec.TryParse(Convert.FromHexString(hex), out var message, out var tid, out var error);

        Assert.Equal(OperationStatus.InvalidData, status);
        Assert.Null(message);
        Assert.Equal(0u, tid);
        Assert.NotNull(error);
    }
}
