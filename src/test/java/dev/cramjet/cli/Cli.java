package dev.cramjet.cli;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs the CLI in-process, capturing what it prints. */
record Cli(int rc, String out, String err) {
    static Cli run(String... argv) { return withInput("", argv); }

    /** {@link #run} with {@code input} as the command's standard input (UTF-8). */
    static Cli withInput(String input, String... argv) {
        PrintStream out = System.out, err = System.err;
        InputStream in = System.in;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        System.setIn(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
        try {
            int rc = Main.run(argv);
            return new Cli(rc, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
            System.setIn(in);
        }
    }

    /** The one line a failed command printed, for assertions. */
    @Override
    public String toString() { return "rc " + rc + ", stderr: " + err + (out.isEmpty() ? "" : ", stdout: " + out); }
}
