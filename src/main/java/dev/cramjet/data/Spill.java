package dev.cramjet.data;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Cleaned documents parked on disk between the passes of {@link Prepare}, so memory holds the duplicate indexes
 * rather than the corpus. A record is the document's split side (one byte: 0 train, 1 validation), the length of
 * its text (a big-endian int) and the text in UTF-8. This class is the only one that writes or reads the format.
 */
final class Spill {
    private Spill() {}

    /** One spilled document. */
    record Doc(int side, byte[] text) {}

    static final class Writer implements Closeable {
        private final DataOutputStream out;

        Writer(Path file) throws IOException {
            out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file), 1 << 20));
        }

        void add(int side, byte[] text) throws IOException {
            out.writeByte(side);
            out.writeInt(text.length);
            out.write(text);
        }

        @Override
        public void close() throws IOException { out.close(); }
    }

    /** The documents in the order they were spilled; a read failure surfaces as an {@link UncheckedIOException}. */
    static final class Reader implements Iterator<Doc>, Closeable {
        private final DataInputStream in;
        private Doc next;

        Reader(Path file) throws IOException {
            in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 20));
            advance();
        }

        private void advance() {
            try {
                int side = in.read();
                if (side < 0) {
                    next = null;
                    return;
                }
                byte[] b = new byte[in.readInt()];
                in.readFully(b);
                next = new Doc(side, b);
            } catch (EOFException e) {
                throw new UncheckedIOException(new IOException("the spill file ends inside a record (was it changed while prepare ran?)", e));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public boolean hasNext() { return next != null; }

        @Override
        public Doc next() {
            if (next == null) throw new NoSuchElementException();
            Doc d = next;
            advance();
            return d;
        }

        @Override
        public void close() throws IOException { in.close(); }
    }
}
