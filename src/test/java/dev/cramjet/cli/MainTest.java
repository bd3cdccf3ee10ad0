package dev.cramjet.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class MainTest {
    /** Before: `finetune --help` threw MissingFormatArgumentException — "2% of" in its usage text is a format specifier. */
    @Test
    void everyCommandsUsageRenders() {
        for (var e : Main.commands().entrySet()) {
            String usage = assertDoesNotThrow(() -> e.getValue().get().usage(), e.getKey());
            assertTrue(usage.contains("cramjet " + e.getKey()), e.getKey() + ": " + usage);
        }
    }

    /** Before: "I/O error: /x/notes.txt" (the JDK gave the path and no reason) or "I/O error: Is a directory". */
    @Test
    void fileSystemErrorsNameThePathAndTheReason(@TempDir Path dir) throws IOException {
        assertEquals("/x/notes.txt: already exists and is in the way (a file where a directory is needed?)",
                Main.describe(new FileAlreadyExistsException("/x/notes.txt")));
        assertEquals("/x/a: Not a directory", Main.describe(new FileSystemException("/x/a", null, "Not a directory")));
        Path file = Files.writeString(dir.resolve("notes.txt"), "not a directory");
        Cli r = Cli.run("prepare", "--input", file.toString(), "--out", file.resolve("data").toString());
        assertEquals(new Cli(2, "", "cramjet prepare: " + file + ": already exists and is in the way (a file where a directory is"
                + " needed?)\n"), r);
    }
}
