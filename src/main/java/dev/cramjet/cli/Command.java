package dev.cramjet.cli;

/** One `cramjet` sub-command. */
public interface Command {
    /** One line for `cramjet help`. */
    String summary();

    /** Full usage text printed by `cramjet NAME --help`. */
    String usage();

    /** Runs the command; returns the process exit status. Throws CramjetException for bad input. */
    int run(Args args) throws Exception;
}
