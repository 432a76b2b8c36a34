using System.Globalization;
using System.Net;
using CucmSim.Protocols.Sccp;
using Microsoft.AspNetCore.Connections;

namespace CucmSim.Serve.Sccp;

/// <summary>Calls from this phone to another registered SCCP phone's directory number, and from another to this one.</summary>
internal sealed partial class SccpSession
{
    private readonly SccpSwitch _switch;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private volatile bool _offHook;
    private string[]? _numbers;

    /// <summary>The call between two phones this phone is in (guarded by the switch's lock).</summary>
    internal SccpRoute? Route { get; set; }

    private SccpRoute? CurrentRoute()
    {
        lock (_switch.Lock)
        {
            return Route;
        }
    }

    private string LineNumber(uint line) => _numbers is { } n && line >= 1 && line <= n.Length ? n[line - 1] : DirectoryNumber(line);

    /// <summary>Publishes this device's directory numbers (one per line) once it is registered.</summary>
    private void JoinSwitch()
    {
        if (_numbers is { } old)
        {
            _switch.Remove(this, old);
        }

        var lines = Math.Clamp(_options.Lines, 1, SccpButtonTemplateRes.Slots);
        _numbers = [.. Enumerable.Range(1, lines).Select(l => SccpDirectory.Number(DeviceName, l))];
        for (var l = 0; l < lines; l++)
        {
            _switch.Add(this, _numbers[l], (uint)l + 1);
        }
    }

    private async ValueTask LeaveSwitchAsync(string reason)
    {
        await EndRouteAsync(CurrentRoute(), reason).ConfigureAwait(false);
        if (_numbers is { } numbers)
        {
            _switch.Remove(this, numbers);
            _numbers = null;
        }
    }

    /// <summary>
    /// The dialled number is another phone's: ring it (or busy tone when it is off hook or in a call). False when no
    /// SCCP phone holds the number (a SIP phone's number is not routed from SCCP).
    /// </summary>
    private async ValueTask<bool> RouteAsync(Call call)
    {
        if (!_switch.TryFind(call.Dialled, out var callee, out var calleeLine) || callee is null)
        {
            return false;
        }

        _context.Routed.Sccp.Attempt();
        SccpRoute? route = null;
        lock (_switch.Lock)
        {
            if (!ReferenceEquals(callee, this) && callee.Route is null && !callee._offHook && Route is null)
            {
                route = new SccpRoute
                {
                    Id = SccpSwitch.NextReference(),
                    Caller = this,
                    Callee = callee,
                    CallerLine = call.Line,
                    CallerReference = call.Reference,
                    CalleeLine = calleeLine,
                    CalleeReference = SccpSwitch.NextReference(),
                    Dialled = call.Dialled,
                    Started = _context.Time.GetTimestamp(),
                };
                Route = route;
                callee.Route = route;
                call.Route = route;
                route.Ring = _context.Time.CreateTimer(state => _ = RingTimeoutAsync((SccpRoute)state!), route, _options.RingTimeout, Timeout.InfiniteTimeSpan);
            }
        }

        if (route is null)
        {
            // The far end is off hook or in a call (or it is this phone): busy tone.
            _context.Routed.Sccp.End(answered: false);
            await SendAsync(new SccpCallState(SccpCallState.Busy, call.Line, call.Reference)).ConfigureAwait(false);
            await SendAsync(new SccpDisplayNotify(10, "BUSY " + call.Dialled)).ConfigureAwait(false);
            await SendAsync(new SccpStartTone(SccpStartTone.BusyTone, call.Line, call.Reference)).ConfigureAwait(false);
            _context.Ledger.Append(Base("sccp-route", "busy", new() { ["caller"] = DeviceName, ["callee"] = callee.DeviceName, ["dialled"] = call.Dialled }));
            call.Failed = true;
            return true;
        }

        var callerNumber = LineNumber(call.Line);
        await SendToAsync(callee,
            new SccpCallState(SccpCallState.RingIn, route.CalleeLine, route.CalleeReference),
            new SccpCallInfo(DeviceName, callerNumber, callee.DeviceName, route.Dialled, route.CalleeLine, route.CalleeReference, SccpCallInfo.Inbound),
            new SccpSetRinger(SccpSetRinger.InsideRing, route.CalleeLine, route.CalleeReference)).ConfigureAwait(false);
        await SendAsync(new SccpCallState(SccpCallState.RingOut, call.Line, call.Reference)).ConfigureAwait(false);
        await SendAsync(new SccpCallInfo(DeviceName, callerNumber, callee.DeviceName, route.Dialled, call.Line, call.Reference, SccpCallInfo.Outbound)).ConfigureAwait(false);
        await SendAsync(new SccpStartTone(SccpStartTone.AlertingTone, call.Line, call.Reference)).ConfigureAwait(false);
        return true;
    }

    /// <summary>Off hook while another phone's call rings here: both phones are asked to open their receive channels.</summary>
    private async ValueTask<bool> AnswerRouteAsync()
    {
        SccpRoute? r;
        lock (_switch.Lock)
        {
            r = Route;
            if (r is not { Stage: SccpRouteStage.Ringing } || !ReferenceEquals(r.Callee, this))
            {
                return false;
            }

            r.Stage = SccpRouteStage.Connected;
            r.AnsweredAt = _context.Time.GetTimestamp();
            r.CallerPassThrough = SccpProtocol.NextPassThroughId();
            r.CalleePassThrough = SccpProtocol.NextPassThroughId();
            r.Ring?.Dispose();
        }

        _context.Routed.Sccp.Answer();
        _call = new Call(r.CalleeReference, r.CalleeLine) { Route = r };

        // The callee first: its OpenReceiveChannel leaves before the caller can answer its own and be told where to send.
        await SendAsync(new SccpSetRinger(SccpSetRinger.Off, r.CalleeLine, r.CalleeReference)).ConfigureAwait(false);
        await SendAsync(new SccpCallState(SccpCallState.Connected, r.CalleeLine, r.CalleeReference)).ConfigureAwait(false);
        await SendAsync(OpenChannel(r, r.CalleePassThrough, r.CalleeReference, r.Caller)).ConfigureAwait(false);
        await SendToAsync(r.Caller,
            new SccpStopTone(r.CallerLine, r.CallerReference),
            new SccpCallState(SccpCallState.Connected, r.CallerLine, r.CallerReference),
            OpenChannel(r, r.CallerPassThrough, r.CallerReference, this)).ConfigureAwait(false);
        return true;
    }

    private static SccpOpenReceiveChannel OpenChannel(SccpRoute r, uint passThrough, uint reference, SccpSession farEnd) => new()
    {
        ConferenceId = r.Id,
        PassThroughPartyId = passThrough,
        CallReference = reference,
        SourceAddress = farEnd._peer.Address,
        RequestedAddressType = farEnd._peer.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 1u : 0u,
    };

    /// <summary>This phone's receive address of a call between phones: the other phone is told to send there.</summary>
    private async ValueTask<bool> RouteMediaAsync(SccpOpenReceiveChannelAck ack)
    {
        SccpRoute? r;
        SccpSession other;
        uint passThrough, reference;
        var media = new IPEndPoint(ack.Address, (int)Math.Min(ack.Port, 65535));
        lock (_switch.Lock)
        {
            r = Route;
            if (r is not { Stage: SccpRouteStage.Connected })
            {
                return false;
            }

            var caller = ReferenceEquals(r.Caller, this);
            if (ack.PassThroughPartyId != (caller ? r.CallerPassThrough : r.CalleePassThrough) || (caller ? r.CallerMedia : r.CalleeMedia) is not null)
            {
                Ignore(SccpMessageId.OpenReceiveChannelAck, "no channel of this call awaits it");
                return true;
            }

            if (caller)
            {
                r.CallerMedia = media;
            }
            else
            {
                r.CalleeMedia = media;
            }

            other = caller ? r.Callee : r.Caller;
            passThrough = caller ? r.CalleePassThrough : r.CallerPassThrough;
            reference = caller ? r.CalleeReference : r.CallerReference;
        }

        if (ack.Status != 0)
        {
            await EndRouteAsync(r, "receive-channel-refused").ConfigureAwait(false);
            return true;
        }

        SccpProtocol.LogMedia(_protocol.Log, _listener.Id, _peerText, DeviceName, "to " + other.DeviceName, (int)ack.Port, Text.EndPoint(media));
        await SendToAsync(other, new SccpStartMediaTransmission
        {
            ConferenceId = r.Id,
            PassThroughPartyId = passThrough,
            RemoteAddress = ack.Address,
            RemotePort = ack.Port,
            CallReference = reference,
        }).ConfigureAwait(false);
        return true;
    }

    private async Task RingTimeoutAsync(SccpRoute r)
    {
        lock (_switch.Lock)
        {
            if (r.Stage != SccpRouteStage.Ringing)
            {
                return;
            }
        }

        await EndRouteAsync(r, "no-answer").ConfigureAwait(false);
    }

    /// <summary>
    /// Ends a call between phones once (on hook, no answer, a connection closed): media stopped and closed on both
    /// if it was connected, the ringer or the ringback stopped, reorder for a caller nobody answered, CallState on
    /// hook to both. False when there is no such call.
    /// </summary>
    private async ValueTask<bool> EndRouteAsync(SccpRoute? r, string reason)
    {
        if (r is null)
        {
            return false;
        }

        SccpRouteStage stage;
        lock (_switch.Lock)
        {
            stage = r.Stage;
            if (stage == SccpRouteStage.Ended)
            {
                return false;
            }

            r.Stage = SccpRouteStage.Ended;
            r.Ring?.Dispose();
            foreach (var side in (ReadOnlySpan<SccpSession>)[r.Caller, r.Callee])
            {
                if (ReferenceEquals(side.Route, r))
                {
                    side.Route = null;
                }
            }
        }

        _context.Routed.Sccp.End(stage == SccpRouteStage.Connected);
        List<SccpMessage> toCaller = [], toCallee = [];
        if (stage == SccpRouteStage.Connected)
        {
            // Stop sending, then close the receive channel (protocols.md §1.5), on both phones.
            toCaller.Add(new SccpMediaStop(SccpMessageId.StopMediaTransmission, r.Id, r.CallerPassThrough, r.CallerReference));
            toCaller.Add(new SccpMediaStop(SccpMessageId.CloseReceiveChannel, r.Id, r.CallerPassThrough, r.CallerReference));
            toCallee.Add(new SccpMediaStop(SccpMessageId.StopMediaTransmission, r.Id, r.CalleePassThrough, r.CalleeReference));
            toCallee.Add(new SccpMediaStop(SccpMessageId.CloseReceiveChannel, r.Id, r.CalleePassThrough, r.CalleeReference));
        }
        else
        {
            toCaller.Add(new SccpStopTone(r.CallerLine, r.CallerReference));
            toCallee.Add(new SccpSetRinger(SccpSetRinger.Off, r.CalleeLine, r.CalleeReference));
        }

        if (reason == "no-answer")
        {
            // The caller stays off hook with reorder until it hangs up.
            toCaller.Add(new SccpDisplayNotify(10, "NO ANSWER " + r.Dialled));
            toCaller.Add(new SccpStartTone(SccpStartTone.ReorderTone, r.CallerLine, r.CallerReference));
        }
        else
        {
            toCaller.Add(new SccpCallState(SccpCallState.OnHook, r.CallerLine, r.CallerReference));
        }

        toCallee.Add(new SccpCallState(SccpCallState.OnHook, r.CalleeLine, r.CalleeReference));
        await SendToAsync(r.Callee, [.. toCallee]).ConfigureAwait(false);
        await SendToAsync(r.Caller, [.. toCaller]).ConfigureAwait(false);

        var detail = new Dictionary<string, string>
        {
            ["caller"] = r.Caller.DeviceName,
            ["callee"] = r.Callee.DeviceName,
            ["dialled"] = r.Dialled,
            ["reason"] = reason,
            ["durationMs"] = ((long)_context.Time.GetElapsedTime(r.Started).TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
        };
        if (r.AnsweredAt != 0)
        {
            detail["setupMs"] = _context.Time.GetElapsedTime(r.Started, r.AnsweredAt).TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);
        }

        if (r.CallerMedia is { } callerMedia)
        {
            detail["callerMedia"] = Text.EndPoint(callerMedia);
        }

        if (r.CalleeMedia is { } calleeMedia)
        {
            detail["calleeMedia"] = Text.EndPoint(calleeMedia);
        }

        _context.Ledger.Append(r.Caller.Base("sccp-route", stage == SccpRouteStage.Connected ? "completed" : reason, detail));
        return true;
    }

    /// <summary>Messages to a phone's connection from outside its own loop (the other phone's, a timer); a closed one is skipped.</summary>
    private static async ValueTask SendToAsync(SccpSession target, params SccpMessage[] messages)
    {
        try
        {
            foreach (var m in messages)
            {
                await target.SendAsync(m).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or ObjectDisposedException or ConnectionAbortedException or ConnectionResetException or OperationCanceledException)
        {
            // The connection closed meanwhile: its own loop ends its calls.
        }
    }
}
