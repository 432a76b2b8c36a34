using System.Text;
using CucmSim.Protocols.Sccp;

namespace CucmSim.Protocols.Tests.Sccp;

public sealed class SccpDirectoryTests
{
    [Theory]
    [InlineData("SEP001122334455", 1, "729205")]
    [InlineData("SEP001122334455", 2, "729206")]
    [InlineData("SEPFFFFFFFFFFFF", 1, "210655")]
    [InlineData("SEPffffffffffff", 3, "210657")]
    [InlineData("SEP0000000DBBA0", 1, "100000")] // m = 900000
    [InlineData("SEP0000000DBB9F", 2, "100000")] // m + 1 wraps to 0
    [InlineData("SEP0000000DBB9F", 1, "999999")]
    [InlineData("AN00112233445", 1, "983065")] // not SEP: FNV-1a 64 0x382c446ba49703d9
    [InlineData("BOT-phone", 2, "876644")]
    [InlineData("SEP00112233445G", 1, "878467")] // not 12 hex digits: hashed
    public void Numbers_follow_the_mac_or_the_hash_of_the_name(string device, int line, string expected) =>
        Assert.Equal(expected, SccpDirectory.Number(device, line));

    [Fact]
    public void Fnv1a64_matches_the_published_test_vectors()
    {
        Assert.Equal(0xaf63dc4c8601ec8cUL, SccpDirectory.Fnv1a64(Encoding.ASCII.GetBytes("a")));
        Assert.Equal(0x85944171f73967e8UL, SccpDirectory.Fnv1a64(Encoding.ASCII.GetBytes("foobar")));
        Assert.Equal(14695981039346656037UL, SccpDirectory.Fnv1a64([]));
    }

    [Fact]
    public void Every_number_has_six_digits_and_line_zero_is_refused()
    {
        for (var i = 0; i < 2000; i++)
        {
            var n = SccpDirectory.Number("SEP" + ((ulong)i * 7919 * 104729).ToString("X12", System.Globalization.CultureInfo.InvariantCulture), 1 + (i % 42));
            Assert.Equal(6, n.Length);
            Assert.InRange(int.Parse(n, System.Globalization.CultureInfo.InvariantCulture), 100_000, 999_999);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => SccpDirectory.Number("SEP001122334455", 0));
    }
}
