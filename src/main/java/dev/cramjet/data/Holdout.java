package dev.cramjet.data;

import java.util.Arrays;
import java.util.Iterator;
import java.util.Locale;
import java.util.NoSuchElementException;

/**
 * Which split each cleaned document goes to. Normally the side its content hash drew ({@link Split}). When that
 * gives validation less than half or more than twice the share of the text asked for, or leaves training nothing —
 * a corpus of a few documents, a single book — the last share of the text in corpus order is validation instead,
 * the document it begins in cut at a line end (else at a character boundary).
 */
final class Holdout {
    private final String method;
    /** From this byte of the cleaned text (documents in order) on, everything is validation; -1: by hash. */
    private final long tailFrom, tailBytes;

    private Holdout(String method, long tailFrom, long tailBytes) {
        this.method = method;
        this.tailFrom = tailFrom;
        this.tailBytes = tailBytes;
    }

    /** Chooses from the documents and bytes per side (0 train, 1 validation) the hash gave; explains a change. */
    static Holdout choose(double fraction, long[] docs, long[] bytes, Prepare.Listener listener) {
        long total = bytes[0] + bytes[1];
        if (fraction == 0) {
            listener.message("note: --val-fraction 0: no validation split; train on this data with evaluation off (--eval-minutes 0)");
            return new Holdout("none", -1, 0);
        }
        double share = bytes[1] / (double) total;
        if (bytes[0] > 0 && share >= fraction / 2 && share <= 2 * fraction) return new Holdout("by document", -1, 0);
        long want = Math.max(1, Math.round(fraction * total));
        if (want >= total) {
            listener.message("warning: too little text for a validation split (" + total + " bytes); everything is training data");
            return new Holdout("none", Long.MAX_VALUE, 0);
        }
        listener.message(String.format(Locale.ROOT, "note: splitting by document gave validation %,d of %,d documents (%.1f%% of the"
                + " text, %.1f%% asked); holding out the last %,d bytes of the text instead", docs[1], docs[0] + docs[1],
                100 * share, 100 * fraction, want));
        return new Holdout("tail of the text", total - want, want);
    }

    /** "by document", "tail of the text" or "none", for the summary. */
    String method() { return method; }

    /** The documents with their final sides; with a tail, the document it starts in comes out as two. */
    Iterator<Spill.Doc> apply(Iterator<Spill.Doc> in) {
        if (tailFrom < 0) return in;
        return new Iterator<>() {
            private long offset;
            private Spill.Doc pending;

            @Override
            public boolean hasNext() { return pending != null || in.hasNext(); }

            @Override
            public Spill.Doc next() {
                if (pending != null) {
                    Spill.Doc d = pending;
                    pending = null;
                    return d;
                }
                if (!in.hasNext()) throw new NoSuchElementException();
                byte[] b = in.next().text();
                long start = offset;
                offset += b.length;
                if (offset <= tailFrom) return new Spill.Doc(0, b);
                if (start >= tailFrom) return new Spill.Doc(1, b);
                int cut = cut(b, (int) (tailFrom - start));
                if (cut == 0) return new Spill.Doc(1, b);
                if (cut < b.length) pending = new Spill.Doc(1, Arrays.copyOfRange(b, cut, b.length));
                return new Spill.Doc(0, Arrays.copyOf(b, cut));
            }
        };
    }

    /** Where to cut UTF-8 text near byte {@code p}: after a line end at most one tail's length earlier, else at p. */
    private int cut(byte[] b, int p) {
        for (int k = p - 1; k >= Math.max(0, p - tailBytes); k--) if (b[k] == '\n') return k + 1;
        while (p < b.length && (b[p] & 0xC0) == 0x80) p++; // never inside a multi-byte character
        return p;
    }
}
