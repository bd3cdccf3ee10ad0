package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.tokenizer.BpeTrainer;
import dev.cramjet.tokenizer.Tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/** `cramjet tokenizer train|encode|decode|bench`: byte-level BPE tokenizers in Hugging Face's tokenizer.json. */
public final class TokenizerCommand implements Command {
    @Override
    public String summary() { return "train a byte-level BPE tokenizer; encode, decode, benchmark"; }

    @Override
    public String usage() {
        return """
            usage: cramjet tokenizer train --input FILE... --vocab N --out tokenizer.json [--specials a,b,...]
                   cramjet tokenizer encode --tokenizer F [--text "..." | --input FILE]
                   cramjet tokenizer decode --tokenizer F [--ids "1 2 3" | --input FILE]
                   cramjet tokenizer bench [--mb 100] [--vocab 32768]

            train   learns a vocabulary of N ids (256 bytes + merges + specials) from UTF-8 text files, read in
                    line-aligned pieces of about a megabyte, and writes a Hugging Face tokenizer.json.
                    Specials default to <|endoftext|>,<|pad|>,<|system|>,<|user|>,<|assistant|>.
            encode  prints the ids of the text (or of the file's bytes; standard input without either), space-separated.
                    Special tokens written in the text become their ids.
            decode  prints the bytes of ids given as --ids, in a file, or on standard input (spaces, commas, newlines).
            bench   builds a mixed Chinese/English corpus of the given size from the chinese-poetry and brown corpora
                    (as prepare --corpus reads them; fetched once into ~/.cache/cramjet), trains on it and encodes it;
                    prints training time, peak resident memory (VmHWM), encoding speed and bytes per token.
            """;
    }

    @Override
    public int run(Args args) throws Exception {
        List<String> pos = args.positionals();
        if (pos.isEmpty()) throw new CramjetException("expected a sub-command: train, encode, decode or bench (see --help)");
        String sub = pos.get(0);
        return switch (sub) {
            case "train" -> train(args);
            case "encode" -> encode(args);
            case "decode" -> decode(args);
            case "bench" -> TokenizerBench.run(args);
            default -> throw new CramjetException("unknown sub-command '" + sub + "'; expected train, encode, decode or bench");
        };
    }

    private static int train(Args args) throws IOException {
        List<Path> inputs = new ArrayList<>();
        inputs.add(Path.of(args.required("input")));
        for (String p : args.positionals().subList(1, args.positionals().size())) inputs.add(Path.of(p));
        int vocab = args.integer("vocab", 32768);
        Path out = Path.of(args.required("out"));
        String specials = args.string("specials", null);
        args.finish();
        for (Path p : inputs) {
            if (!Files.isRegularFile(p)) throw new CramjetException(p + (Files.exists(p) ? ": not a regular file" : ": no such file"));
        }
        List<String> sp = specials == null ? Tokenizer.DEFAULT_SPECIALS : Arrays.asList(specials.split(","));
        long t0 = System.nanoTime();
        Tokenizer t = new BpeTrainer((phase, done, total) -> {
            if (phase.equals("merge")) System.err.printf("\rmerges %,d / %,d", done, total);
            else System.err.printf("\rread %,d M characters", done / 1_000_000);
        }).train(() -> pieces(inputs), vocab, sp);
        System.err.println();
        t.save(out);
        System.out.printf("wrote %s: %,d ids (%d specials) in %.1f s; hash %s%n", out, t.vocabSize(), t.specials().size(),
                (System.nanoTime() - t0) / 1e9, t.hash().substring(0, 16));
        return 0;
    }

    /** The files' text in pieces of about 1 MB that end at line ends, read lazily: the corpus is never held whole. */
    static Iterator<String> pieces(List<Path> files) {
        return new Iterator<>() {
            int file = -1;
            BufferedReader reader;
            String next;

            @Override
            public boolean hasNext() {
                try {
                    while (next == null) {
                        if (reader == null) {
                            if (++file >= files.size()) return false;
                            reader = Files.newBufferedReader(files.get(file), StandardCharsets.UTF_8);
                        }
                        StringBuilder sb = new StringBuilder();
                        String line;
                        while (sb.length() < (1 << 20) && (line = reader.readLine()) != null) sb.append(line).append('\n');
                        if (sb.isEmpty()) {
                            reader.close();
                            reader = null;
                        } else {
                            next = sb.toString();
                        }
                    }
                    return true;
                } catch (java.nio.charset.MalformedInputException e) {
                    throw new CramjetException(files.get(file) + ": not UTF-8 text");
                } catch (IOException e) {
                    throw new UncheckedIOException(files.get(file) + ": " + e.getMessage(), e);
                }
            }

            @Override
            public String next() {
                if (!hasNext()) throw new NoSuchElementException();
                String s = next;
                next = null;
                return s;
            }
        };
    }

    private static int encode(Args args) throws IOException {
        Tokenizer t = load(args.required("tokenizer"));
        String text = args.string("text", null);
        String input = args.string("input", null);
        args.finish();
        int[] ids = text != null ? t.encode(text) : t.encode(readInput(input));
        StringBuilder sb = new StringBuilder(ids.length * 6);
        for (int i = 0; i < ids.length; i++) sb.append(i == 0 ? "" : " ").append(ids[i]);
        System.out.println(sb);
        return 0;
    }

    private static int decode(Args args) throws IOException {
        Tokenizer t = load(args.required("tokenizer"));
        String ids = args.string("ids", null);
        String input = args.string("input", null);
        args.finish();
        String text = ids != null ? ids : new String(readInput(input), StandardCharsets.UTF_8);
        String[] parts = text.trim().split("[\\s,]+");
        int[] out = new int[parts[0].isEmpty() ? 0 : parts.length];
        for (int i = 0; i < out.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new CramjetException("decode: '" + parts[i] + "' (item " + (i + 1) + ") is not a token id");
            }
        }
        PrintStream o = System.out;
        o.write(t.decodeBytes(out));
        o.flush();
        return 0;
    }

    private static Tokenizer load(String path) throws IOException {
        try {
            return Tokenizer.load(Path.of(path));
        } catch (NoSuchFileException e) {
            throw new CramjetException(path + ": no such tokenizer file");
        }
    }

    private static byte[] readInput(String path) throws IOException {
        if (path == null) {
            InputStream in = System.in;
            return in.readAllBytes();
        }
        try {
            return Files.readAllBytes(Path.of(path));
        } catch (NoSuchFileException e) {
            throw new CramjetException(path + ": no such file");
        }
    }
}
