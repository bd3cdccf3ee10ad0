package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.serve.Server;

import java.nio.file.Files;
import java.nio.file.Path;

/** `cramjet dashboard RUN_DIR`: the web page's live view of a training run, without a model. */
public final class DashboardCommand implements Command {
    @Override
    public String summary() { return "watch a training run live in the browser"; }

    @Override
    public String usage() {
        return """
                usage: cramjet dashboard RUN_DIR [--host H] [--port P] [--api-key KEY] [--cors ORIGIN]

                Serves the web page with the run's loss and validation curves, learning rate, tokens/s and latest
                samples, updated as the trainer appends to RUN_DIR/metrics.jsonl (the run may still be training).
                Defaults: --host 127.0.0.1, --port 8080. `cramjet serve --run RUN_DIR` shows the same view beside
                the chat.""";
    }

    @Override
    public int run(Args args) throws Exception {
        ServeCommand.Listen listen = ServeCommand.Listen.read(args);
        args.finish();
        if (args.positionals().size() != 1) throw new CramjetException("give one run directory (see --help)");
        Path run = Path.of(args.positionals().getFirst());
        if (!Files.isDirectory(run)) throw new CramjetException(run + ": no such run directory");
        Server server = listen.start(null, null, null, run, 1, 1);
        System.err.printf("watching %s at http://%s:%d/%n", run, listen.host(), server.port());
        listen.awaitTermination(server);
        return 0;
    }
}
