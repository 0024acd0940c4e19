using System.Buffers.Binary;
using System.Text;

namespace Pfa.Tasks.Native;

/// <summary>One entry of an ELF file's version-needed table (<c>.gnu.version_r</c>): the library
/// <see cref="File"/> must define symbol version <see cref="Version"/>.</summary>
/// <param name="FlagsOffset">File offset of the entry's 16-bit <c>vna_flags</c>, so it can be patched in place.</param>
public sealed record VersionRequirement(string File, string Version, ushort Flags, long FlagsOffset)
{
    /// <summary>VER_FLG_WEAK: the dynamic loader tolerates a missing version instead of refusing to load.</summary>
    public const ushort WeakFlag = 0x2;
    public bool IsWeak => (Flags & WeakFlag) != 0;
}

/// <summary>
/// The symbol-versioning tables of a 64-bit little-endian ELF shared library: the versions it needs
/// from other libraries (<c>.gnu.version_r</c>) and the versions it defines (<c>.gnu.version_d</c>).
/// Only what the native-library fix needs; see the System V ABI, "Symbol Versioning".
/// </summary>
public sealed class ElfFile
{
    const uint ShtGnuVerdef = 0x6ffffffd;
    const uint ShtGnuVerneed = 0x6ffffffe;

    public string Path { get; }
    public IReadOnlyList<VersionRequirement> Requirements { get; }
    public IReadOnlySet<string> DefinedVersions { get; }

    ElfFile(string path, IReadOnlyList<VersionRequirement> requirements, IReadOnlySet<string> defined)
    {
        Path = path;
        Requirements = requirements;
        DefinedVersions = defined;
    }

    /// <summary>A provider that defines no versions (used to weaken requirements unconditionally).</summary>
    public static ElfFile Empty { get; } = new("(none)", [], new HashSet<string>());

    public static ElfFile Read(string path)
    {
        byte[] data;
        try { data = System.IO.File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"cannot read '{path}': {e.Message}");
        }
        return Parse(path, data);
    }

    static ElfFile Parse(string path, byte[] d)
    {
        if (d.Length < 64 || d[0] != 0x7f || d[1] != (byte)'E' || d[2] != (byte)'L' || d[3] != (byte)'F')
            throw new InvalidDataException($"'{path}' is not an ELF file (expected the magic bytes 7F 45 4C 46).");
        if (d[4] != 2 || d[5] != 1)
            throw new InvalidDataException($"'{path}' is not a 64-bit little-endian ELF file (class {d[4]}, data {d[5]}); only those are supported.");

        long shoff = (long)U64(d, 0x28, path);
        int shentsize = U16(d, 0x3A, path);
        int shnum = U16(d, 0x3C, path);
        if (shoff == 0 || shnum == 0)
            throw new InvalidDataException($"'{path}' has no section headers; cannot find its version tables.");
        if (shentsize < 64)
            throw new InvalidDataException($"'{path}' has section headers of {shentsize} bytes; expected 64.");

        var sections = new List<(uint Type, long Offset, long Size, int Link, int Info)>();
        for (int i = 0; i < shnum; i++)
        {
            long h = shoff + (long)i * shentsize;
            Check(d, h, 64, path);
            sections.Add((U32(d, h + 4, path), (long)U64(d, h + 24, path), (long)U64(d, h + 32, path),
                          (int)U32(d, h + 40, path), (int)U32(d, h + 44, path)));
        }

        string Str(int strSection, uint offset)
        {
            if (strSection < 0 || strSection >= sections.Count)
                throw new InvalidDataException($"'{path}': string table index {strSection} is out of range.");
            var s = sections[strSection];
            long start = s.Offset + offset;
            Check(d, start, 1, path);
            long end = start;
            while (end < d.Length && d[end] != 0) end++;
            return Encoding.ASCII.GetString(d, (int)start, (int)(end - start));
        }

        var needs = new List<VersionRequirement>();
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in sections)
        {
            if (s.Type == ShtGnuVerneed)
            {
                long vn = s.Offset;
                for (int n = 0; n < s.Info; n++)
                {
                    Check(d, vn, 16, path);
                    int cnt = U16(d, vn + 2, path);
                    string file = Str(s.Link, U32(d, vn + 4, path));
                    long aux = vn + U32(d, vn + 8, path);
                    for (int a = 0; a < cnt; a++)
                    {
                        Check(d, aux, 16, path);
                        ushort flags = (ushort)U16(d, aux + 4, path);
                        string name = Str(s.Link, U32(d, aux + 8, path));
                        needs.Add(new VersionRequirement(file, name, flags, aux + 4));
                        uint nextAux = U32(d, aux + 12, path);
                        if (nextAux == 0) break;
                        aux += nextAux;
                    }
                    uint next = U32(d, vn + 12, path);
                    if (next == 0) break;
                    vn += next;
                }
            }
            else if (s.Type == ShtGnuVerdef)
            {
                long vd = s.Offset;
                for (int n = 0; n < s.Info; n++)
                {
                    Check(d, vd, 20, path);
                    long aux = vd + U32(d, vd + 12, path);
                    Check(d, aux, 8, path);
                    defined.Add(Str(s.Link, U32(d, aux, path)));
                    uint next = U32(d, vd + 16, path);
                    if (next == 0) break;
                    vd += next;
                }
            }
        }
        return new ElfFile(path, needs, defined);
    }

    static void Check(byte[] d, long offset, int length, string path)
    {
        if (offset < 0 || offset + length > d.Length)
            throw new InvalidDataException($"'{path}' is truncated or corrupt: a table at offset {offset} runs past the end of the file ({d.Length} bytes).");
    }

    static int U16(byte[] d, long o, string p) { Check(d, o, 2, p); return BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan((int)o)); }
    static uint U32(byte[] d, long o, string p) { Check(d, o, 4, p); return BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan((int)o)); }
    static ulong U64(byte[] d, long o, string p) { Check(d, o, 8, p); return BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan((int)o)); }
}
