namespace CucmSim.Protocols.Rtp;

/// <summary>
/// Receiver statistics of one RTP stream (one SSRC) per RFC 3550 appendix A.1 (sequence number validation,
/// extended highest sequence, expected and lost packets) and A.8 (interarrival jitter). A mutable struct:
/// keep it in a field or an array slot and update it in place.
/// </summary>
public struct RtpReceiverStats
{
    private const int MaxDropout = 3000;
    private const int MaxMisorder = 100;
    private const int SeqMod = 1 << 16;

    private ushort _maxSeq;
    private uint _cycles;
    private uint _baseSeq;
    private uint _badSeq;
    private long _received;
    private bool _initialised;
    private int _lastTransit;
    private bool _haveTransit;
    private double _jitter;

    public readonly long Received => _received;

    /// <summary>Extended highest sequence number received (cycles shifted in).</summary>
    public readonly long ExtendedHighest => _cycles + _maxSeq;

    public readonly long Expected => _initialised ? ExtendedHighest - _baseSeq + 1 : 0;

    /// <summary>Cumulative packets lost; negative when duplicates outnumber losses (RFC 3550 A.3).</summary>
    public readonly long Lost => Expected - _received;

    /// <summary>Interarrival jitter in timestamp units.</summary>
    public readonly double Jitter => _jitter;

    public long Reordered { get; private set; }

    /// <summary>Packets dropped as invalid: a jump too large, to be confirmed by the next packet.</summary>
    public long Discarded { get; private set; }

    /// <summary>
    /// Accounts one packet. <paramref name="arrival"/> is the arrival time in units of the stream's RTP clock
    /// (e.g. milliseconds times 8 for an 8 kHz codec).
    /// </summary>
    public void Update(ushort sequence, uint rtpTimestamp, long arrival)
    {
        if (!_initialised)
        {
            _initialised = true;
            _baseSeq = sequence;
            _maxSeq = sequence;
            _badSeq = SeqMod + 1;
            _cycles = 0;
            _received = 1;
            UpdateJitter(rtpTimestamp, arrival);
            return;
        }

        var delta = (ushort)(sequence - _maxSeq);
        if (delta != 0 && delta < MaxDropout)
        {
            if (sequence < _maxSeq)
            {
                _cycles += SeqMod;
            }

            _maxSeq = sequence;
        }
        else if (delta == 0)
        {
            // A duplicate of the highest packet: counted as received, as A.1 does.
        }
        else if (delta <= SeqMod - MaxMisorder)
        {
            // A very large jump: accept it only if the next packet follows it (the sender restarted).
            if (sequence == _badSeq)
            {
                _baseSeq = sequence;
                _maxSeq = sequence;
                _cycles = 0;
                _received = 0;
                _badSeq = SeqMod + 1;
            }
            else
            {
                _badSeq = (uint)((sequence + 1) & (SeqMod - 1));
                Discarded++;
                return;
            }
        }
        else
        {
            Reordered++;
        }

        _received++;
        UpdateJitter(rtpTimestamp, arrival);
    }

    private void UpdateJitter(uint rtpTimestamp, long arrival)
    {
        // RFC 3550 A.8: D = (Rj - Ri) - (Sj - Si); J += (|D| - J) / 16.
        // Both clocks wrap at 32 bits; the difference of differences stays small.
        var transit = unchecked((int)((uint)arrival - rtpTimestamp));
        if (_haveTransit)
        {
            var d = Math.Abs((long)unchecked(transit - _lastTransit));
            _jitter += (d - _jitter) / 16.0;
        }

        _lastTransit = transit;
        _haveTransit = true;
    }
}
