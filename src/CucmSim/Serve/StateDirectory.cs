namespace CucmSim.Serve;

/// <summary>
/// The state directory (--state-dir): generated certificates, the SSH host key, the control token. It holds private
/// keys, so it is made with mode 0700 and every secret in it with 0600; serve refuses a directory that any local user
/// may write to (one of them could plant a key or a certificate), and warns about one its group may write to.
/// </summary>
public static class StateDirectory
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Checks an existing state directory: an error (serve does not start) when others may write to it, a warning
    /// when its group may; nothing for a directory that does not exist yet (it is made 0700 when first needed).
    /// </summary>
    public static (string? Error, string? Warning) Check(string path)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(path))
        {
            return (null, null);
        }

        var mode = File.GetUnixFileMode(path);
        var octal = Convert.ToString((int)mode & 0x1FF, 8);
        if (mode.HasFlag(UnixFileMode.OtherWrite))
        {
            return ($"the state directory {Path.GetFullPath(path)} is writable by every user (mode {octal}): anyone could plant keys and certificates there; " +
                    $"run chmod 700 {path}, or choose another with --state-dir DIR", null);
        }

        return mode.HasFlag(UnixFileMode.GroupWrite)
            ? (null, $"the state directory {Path.GetFullPath(path)} is writable by its group (mode {octal}); chmod 700 {path} keeps its keys to this user")
            : (null, null);
    }

    /// <summary>Makes a directory (and its parents) mode 0700 where it does not exist yet.</summary>
    public static void Create(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            // Directory.CreateDirectory(path, mode) gives the mode to the last directory only: make each one missing.
            var missing = new Stack<string>();
            for (var d = Path.GetFullPath(directory); !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
            {
                missing.Push(d);
            }

            while (missing.TryPop(out var d))
            {
                Directory.CreateDirectory(d, Private);
            }
        }
    }

    /// <summary>
    /// Writes a secret whole with mode 0600 (written aside, then moved over <paramref name="path"/>), in a directory
    /// made 0700 when it does not exist.
    /// </summary>
    public static void WritePrivate(string path, ReadOnlySpan<byte> content)
    {
        Create(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        using (var stream = new FileStream(temp, PrivateOptions()))
        {
            stream.Write(content);
        }

        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Options to create a new file that only its owner may read and write.</summary>
    public static FileStreamOptions PrivateOptions()
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFile;
        }

        return options;
    }

    /// <summary>Takes group and other permissions off a secret written by an older version (0644 then).</summary>
    public static void Tighten(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path) && (File.GetUnixFileMode(path) & ~PrivateFile) != 0)
        {
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) & PrivateFile);
        }
    }
}
