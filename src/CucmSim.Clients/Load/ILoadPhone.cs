namespace CucmSim.Clients.Load;

/// <summary>A load phone of any protocol, driven on its loop's thread.</summary>
public interface ILoadPhone
{
    int Index { get; }

    bool IsRegistered { get; }

    bool InCall { get; }

    void Register();

    void Call(string number, TimeSpan hold);

    void Stop();
}
