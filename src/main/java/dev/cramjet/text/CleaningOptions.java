package dev.cramjet.text;

import dev.cramjet.CramjetException;

/**
 * Which cleaning steps run, and their settings. The defaults suit language-model pretraining: NFC, control
 * characters removed, documents that look like HTML turned into text, whitespace tidied, documents of at least one character, boilerplate that deflates
 * more than 6:1 dropped, exact and near (MinHash similarity ≥ 0.8) duplicates dropped.
 */
public final class CleaningOptions {
    /** Unicode normalization form. NFKC also folds compatibility characters — including full-width Chinese
     *  punctuation (，→ , ；→ ;), which changes Chinese text; NFC only composes accents and is the safe default. */
    public enum Normalization { NONE, NFC, NFKC }

    private Normalization normalization = Normalization.NFC;
    private boolean controls = true, html = true, whitespace = true, lowercase, stopWords, exactDedup = true;
    private int minChars = 1, maxChars;
    private double maxCompression = 6.0, nearDuplicate = 0.8;
    private int compressionMinBytes = 512;

    public Normalization normalization() { return normalization; }
    public CleaningOptions normalization(Normalization n) { normalization = n; return this; }

    public boolean controls() { return controls; }
    public CleaningOptions controls(boolean on) { controls = on; return this; }

    public boolean html() { return html; }
    public CleaningOptions html(boolean on) { html = on; return this; }

    public boolean whitespace() { return whitespace; }
    public CleaningOptions whitespace(boolean on) { whitespace = on; return this; }

    public boolean lowercase() { return lowercase; }
    public CleaningOptions lowercase(boolean on) { lowercase = on; return this; }

    public boolean stopWords() { return stopWords; }
    public CleaningOptions stopWords(boolean on) { stopWords = on; return this; }

    public int minChars() { return minChars; }
    /** Documents shorter than this many characters (code points) are dropped; at least 1 (empty ones always go). */
    public CleaningOptions minChars(int n) {
        if (n < 1) throw new CramjetException("--min-chars must be at least 1, got " + n);
        minChars = n;
        return this;
    }

    public int maxChars() { return maxChars; }
    /** Documents longer than this are dropped; 0 means no limit. */
    public CleaningOptions maxChars(int n) {
        if (n < 0) throw new CramjetException("--max-chars must be 0 (no limit) or positive, got " + n);
        maxChars = n;
        return this;
    }

    public double maxCompression() { return maxCompression; }
    /** Documents whose UTF-8 bytes deflate by more than this factor are dropped as boilerplate; 0 turns it off. */
    public CleaningOptions maxCompression(double ratio) {
        if (ratio != 0 && ratio < 1) throw new CramjetException("--max-compression must be 0 (off) or at least 1, got " + ratio);
        maxCompression = ratio;
        return this;
    }

    public int compressionMinBytes() { return compressionMinBytes; }
    /** The compression filter only judges documents of at least this many bytes (deflate needs some text). */
    public CleaningOptions compressionMinBytes(int n) { compressionMinBytes = n; return this; }

    public boolean exactDedup() { return exactDedup; }
    public CleaningOptions exactDedup(boolean on) { exactDedup = on; return this; }

    public double nearDuplicate() { return nearDuplicate; }
    /** Estimated Jaccard similarity at which a document counts as a near-duplicate of an earlier one; 0 is off. */
    public CleaningOptions nearDuplicate(double threshold) {
        if (threshold < 0 || threshold > 1) throw new CramjetException("--near-dup must be in [0, 1] (0 = off), got " + threshold);
        nearDuplicate = threshold;
        return this;
    }
}
