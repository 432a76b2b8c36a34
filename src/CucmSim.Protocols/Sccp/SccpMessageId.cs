namespace CucmSim.Protocols.Sccp;

/// <summary>Message ids (Wireshark SkinnyProtocolOptimized.xml; "dev2pbx" phone→CM, "pbx2dev" CM→phone).</summary>
public static class SccpMessageId
{
    public const uint KeepAliveReq = 0x0000;
    public const uint RegisterReq = 0x0001;
    public const uint IpPort = 0x0002;
    public const uint KeypadButton = 0x0003;
    public const uint OffHook = 0x0006;
    public const uint OnHook = 0x0007;
    public const uint LineStatReq = 0x000B;
    public const uint ConfigStatReq = 0x000C;
    public const uint TimeDateReq = 0x000D;
    public const uint ButtonTemplateReq = 0x000E;
    public const uint CapabilitiesRes = 0x0010;
    public const uint OpenReceiveChannelAck = 0x0022;
    public const uint SoftKeySetReq = 0x0025;
    public const uint UnregisterReq = 0x0027;
    public const uint SoftKeyTemplateReq = 0x0028;
    public const uint HeadsetStatus = 0x002B;
    public const uint RegisterAvailableLines = 0x002D;
    public const uint RegisterAck = 0x0081;
    public const uint StartTone = 0x0082;
    public const uint StopTone = 0x0083;
    public const uint SetRinger = 0x0085;
    public const uint StartMediaTransmission = 0x008A;
    public const uint StopMediaTransmission = 0x008B;
    public const uint CallInfo = 0x008F;
    public const uint LineStatRes = 0x0092;
    public const uint ConfigStatRes = 0x0093;
    public const uint TimeDateRes = 0x0094;
    public const uint ButtonTemplateRes = 0x0097;
    public const uint CapabilitiesReq = 0x009B;
    public const uint RegisterReject = 0x009D;
    public const uint Reset = 0x009F;
    public const uint KeepAliveAck = 0x0100;
    public const uint OpenReceiveChannel = 0x0105;
    public const uint CloseReceiveChannel = 0x0106;
    public const uint SoftKeyTemplateRes = 0x0108;
    public const uint SoftKeySetRes = 0x0109;
    public const uint CallState = 0x0111;
    public const uint DisplayNotify = 0x0114;
    public const uint UnregisterAck = 0x0118;
    public const uint StartMediaTransmissionAck = 0x0154;
}
