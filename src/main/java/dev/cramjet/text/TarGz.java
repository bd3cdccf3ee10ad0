package dev.cramjet.text;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Predicate;
import java.util.zip.GZIPInputStream;

/**
 * Extracts regular files from a .tgz (what `npm pack` produces): ustar headers, with GNU long names and pax
 * {@code path} records. Only entries the filter accepts are written, and no entry may land outside the target.
 */
final class TarGz {
    private TarGz() {}

    /** Extracts the accepted entries of {@code tgz} under {@code into}; returns how many files were written. */
    static int extract(Path tgz, Path into, Predicate<String> accept) throws IOException {
        int written = 0;
        try (InputStream in = new GZIPInputStream(new BufferedInputStream(Files.newInputStream(tgz), 1 << 16), 1 << 16)) {
            byte[] header = new byte[512];
            String longName = null;
            while (in.readNBytes(header, 0, 512) == 512) {
                if (isZero(header)) break;
                String name = longName != null ? longName : field(header, 0, 100);
                longName = null;
                String prefix = field(header, 345, 155);
                if (!prefix.isEmpty() && name.equals(field(header, 0, 100))) name = prefix + "/" + name;
                long size = Long.parseLong(field(header, 124, 12).strip().isEmpty() ? "0" : field(header, 124, 12).strip(), 8);
                char type = (char) header[156];
                long padded = (size + 511) / 512 * 512;
                if (type == 'L' || type == 'x') {
                    byte[] data = in.readNBytes((int) size);
                    in.skipNBytes(padded - size);
                    longName = type == 'L' ? new String(data, StandardCharsets.UTF_8).replace("\0", "") : paxPath(data);
                    continue;
                }
                if ((type == '0' || type == '\0') && accept.test(name)) {
                    Path target = into.resolve(name).normalize();
                    if (!target.startsWith(into.normalize())) throw new IOException(tgz + ": entry '" + name + "' would land outside " + into);
                    Files.createDirectories(target.getParent());
                    try (OutputStream out = Files.newOutputStream(target)) {
                        copy(in, out, size);
                    }
                    in.skipNBytes(padded - size);
                    written++;
                } else {
                    in.skipNBytes(padded);
                }
            }
        }
        return written;
    }

    private static void copy(InputStream in, OutputStream out, long size) throws IOException {
        byte[] buf = new byte[1 << 16];
        while (size > 0) {
            int n = in.read(buf, 0, (int) Math.min(buf.length, size));
            if (n < 0) throw new EOFException("truncated tar entry");
            out.write(buf, 0, n);
            size -= n;
        }
    }

    private static String field(byte[] h, int off, int len) {
        int end = off;
        while (end < off + len && h[end] != 0) end++;
        return new String(h, off, end - off, StandardCharsets.UTF_8);
    }

    /** The {@code path} value of a pax extended header ("LEN path=VALUE\n" records), or null. */
    private static String paxPath(byte[] data) {
        for (String rec : new String(data, StandardCharsets.UTF_8).split("\n")) {
            int sp = rec.indexOf(' ');
            if (sp > 0 && rec.startsWith("path=", sp + 1)) return rec.substring(sp + 6);
        }
        return null;
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }
}
