package dev.cramjet.io;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Reads the files a user names (configs, tokenizers, manifests, text) with errors that name the file: the JDK's own
 * say "Is a directory" without a path. Text must be UTF-8 without NUL bytes; the error gives the line and column.
 */
public final class TextFile {
    private TextFile() {}

    /** The bytes of {@code file}; {@code what} says what it should be ("tokenizer file", "config file"). */
    public static byte[] bytes(Path file, String what) {
        if (Files.isDirectory(file)) throw new CramjetException(file + ": is a directory, expected a " + what);
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new CramjetException(file + ": no such " + what);
        } catch (AccessDeniedException e) {
            throw new CramjetException(file + ": permission denied (reading a " + what + ")");
        } catch (IOException e) {
            throw new CramjetException(file + ": cannot read " + what + ": " + e.getMessage(), e);
        }
    }

    /** The UTF-8 text of {@code file}; invalid UTF-8 or a NUL byte (a binary file) is an error naming line and column. */
    public static String read(Path file, String what) {
        byte[] b = bytes(file, what);
        try {
            return decode(b, 0, b.length, file.toString(), 1);
        } catch (CramjetException e) {
            throw new CramjetException(e.getMessage() + "; expected a " + what + " in UTF-8");
        }
    }

    /**
     * Strictly decodes {@code b[off, off + len)} (a leading byte-order mark dropped). Invalid UTF-8 or a NUL byte is
     * an error saying where: "WHERE:LINE: invalid UTF-8 at column C (byte 0xE9)" or "WHERE:LINE: NUL byte at column
     * C (a binary file?)", lines counted from {@code firstLine} (0 leaves the line out, for a {@code where} that
     * already names one).
     */
    public static String decode(byte[] b, int off, int len, String where, int firstLine) {
        int bad = -1;
        for (int i = off; i < off + len; i++) if (b[i] == 0) { bad = i; break; }
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(b, off, bad < 0 ? len : bad - off);
        CharBuffer out = CharBuffer.allocate(in.remaining());
        CoderResult r = d.decode(in, out, true);
        if (r.isError()) bad = in.position();
        if (bad >= 0) {
            int line = firstLine, col = 1;
            for (int i = off; i < bad; i++) {
                if (b[i] == '\n') { line++; col = 1; } else col++;
            }
            String at = firstLine > 0 ? where + ":" + line + ": " : where + ": ";
            throw new CramjetException(b[bad] == 0 ? at + "NUL byte at column " + col + " (a binary file?)"
                    : at + String.format("invalid UTF-8 at column %d (byte 0x%02X)", col, b[bad] & 0xff));
        }
        d.flush(out);
        String s = out.flip().toString();
        return s.startsWith("\uFEFF") ? s.substring(1) : s;
    }
}
