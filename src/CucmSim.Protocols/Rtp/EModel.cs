namespace CucmSim.Protocols.Rtp;

/// <summary>
/// A mean opinion score estimated with the E-model (ITU-T G.107), simplified the usual way for G.711 voice
/// measurement: R = 93.2 − Id − Ie-eff, with the default simultaneous impairment Is and the advantage factor A both
/// taken as 0 (R0 − Is = 93.2), the delay impairment Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3) for the one-way
/// delay d in ms, and the equipment impairment Ie-eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl) with G.711's Ie = 0
/// and Bpl = 25.1 (packet loss concealment, G.113 Appendix I), random loss (BurstR = 1). MOS from R as G.107 Annex B.
/// </summary>
public static class EModel
{
    public const double R0MinusIs = 93.2;

    /// <summary>G.711 with packet loss concealment.</summary>
    public const double G711Bpl = 25.1;

    /// <summary>The transmission rating R for a one-way delay (ms) and a packet loss (percent).</summary>
    public static double Rating(double oneWayDelayMs, double lossPercent, double ie = 0, double bpl = G711Bpl, double burstR = 1)
    {
        var d = Math.Max(0, oneWayDelayMs);
        var id = (0.024 * d) + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
        var ppl = Math.Clamp(lossPercent, 0, 100);
        var ieEff = ie + ((95 - ie) * ppl / ((ppl / burstR) + bpl));
        return R0MinusIs - id - ieEff;
    }

    /// <summary>MOS (1 to 4.5) from R (G.107 Annex B).</summary>
    public static double Mos(double r)
    {
        if (r <= 0)
        {
            return 1;
        }

        if (r >= 100)
        {
            return 4.5;
        }

        return 1 + (0.035 * r) + (r * (r - 60) * (100 - r) * 7e-6);
    }

    /// <summary>
    /// The MOS of a G.711 20 ms leg: the one-way delay is taken as the network delay (half the round trip when known,
    /// else 0) plus 20 ms of packetisation plus a jitter buffer of twice the interarrival jitter.
    /// </summary>
    public static double LegMos(double jitterMs, double lossPercent, double networkDelayMs = 0) =>
        Mos(Rating(networkDelayMs + 20 + (2 * jitterMs), lossPercent));
}
