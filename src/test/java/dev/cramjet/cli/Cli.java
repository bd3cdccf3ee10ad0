package dev.cramjet.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** Runs the CLI in-process, capturing what it prints. */
record Cli(int rc, String out, String err) {
    static Cli run(String... argv) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            int rc = Main.run(argv);
            return new Cli(rc, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    /** The one line a failed command printed, for assertions. */
    @Override
    public String toString() { return "rc " + rc + ", stderr: " + err + (out.isEmpty() ? "" : ", stdout: " + out); }
}
