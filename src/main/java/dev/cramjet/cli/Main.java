package dev.cramjet.cli;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** `cramjet COMMAND [options]`: dispatches to one {@link Command}. */
public final class Main {
    /** The commands, in the order `cramjet help` lists them (the pipeline's order). */
    static Map<String, Supplier<Command>> commands() {
        Map<String, Supplier<Command>> m = new LinkedHashMap<>();
        for (String[] c : COMMANDS) {
            Supplier<Command> s = load(c[1]);
            if (s != null) m.put(c[0], s);
        }
        return m;
    }

    /** name → class, in pipeline order. Each class lives in this package and has a no-argument constructor. */
    private static final String[][] COMMANDS = {
        {"demo", "DemoCommand"},
        {"prepare", "PrepareCommand"},
        {"tokenizer", "TokenizerCommand"},
        {"plan", "PlanCommand"},
        {"train", "TrainCommand"},
        {"eval", "EvalCommand"},
        {"generate", "GenerateCommand"},
        {"report", "ReportCommand"},
        {"bench", "BenchCommand"},
        {"doctor", "DoctorCommand"},
        {"selftest", "SelftestCommand"},
    };

    private static Supplier<Command> load(String simpleName) {
        try {
            var ctor = Class.forName(Main.class.getPackageName() + "." + simpleName).getDeclaredConstructor();
            return () -> {
                try {
                    return (Command) ctor.newInstance();
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
            };
        } catch (ReflectiveOperationException e) {
            return null;
        }
    }

    public static void main(String[] argv) {
        System.exit(run(argv));
    }

    static int run(String[] argv) {
        Map<String, Supplier<Command>> commands = commands();
        if (argv.length == 0 || argv[0].equals("help") || argv[0].equals("--help") || argv[0].equals("-h")) {
            System.out.println(help(commands));
            return argv.length == 0 ? 2 : 0;
        }
        Supplier<Command> s = commands.get(argv[0]);
        if (s == null) {
            System.err.println("cramjet: unknown command '" + argv[0] + "'\n\n" + help(commands));
            return 2;
        }
        Command c = s.get();
        String[] rest = java.util.Arrays.copyOfRange(argv, 1, argv.length);
        if (java.util.Arrays.asList(rest).contains("--help") || java.util.Arrays.asList(rest).contains("-h")) {
            System.out.println(c.usage());
            return 0;
        }
        try {
            return c.run(new Args(rest));
        } catch (CramjetException e) {
            System.err.println("cramjet " + argv[0] + ": " + e.getMessage());
            return 2;
        } catch (UncheckedIOException e) {
            System.err.println("cramjet " + argv[0] + ": " + e.getCause().getMessage());
            return 2;
        } catch (IOException e) {
            System.err.println("cramjet " + argv[0] + ": I/O error: " + e.getMessage());
            return 2;
        } catch (Exception e) {
            // A bug, not bad input: keep the trace, it is what a bug report needs.
            System.err.println("cramjet " + argv[0] + ": internal error (please report): " + e);
            e.printStackTrace();
            return 1;
        }
    }

    private static String help(Map<String, Supplier<Command>> commands) {
        StringBuilder sb = new StringBuilder("usage: cramjet COMMAND [options]   (cramjet COMMAND --help for details)\n\ncommands:\n");
        commands.forEach((name, s) -> sb.append(String.format("  %-10s %s%n", name, s.get().summary())));
        return sb.toString();
    }
}
