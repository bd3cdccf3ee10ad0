package dev.cramjet.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's one-book recipe — prepare, train, generate — on a generated text of a novel's size (1 MB), with a
 * model small enough for a test. Before, prepare read the book as one document, wrote no validation split, and
 * train refused the data.
 */
class OneBookTest {
    @Test
    void aNovelSizedTextGoesThroughPrepareTrainAndGenerate(@TempDir Path dir) throws Exception {
        Path book = Files.writeString(dir.resolve("book.txt"), PrepareCommandTest.book(3000, 11));
        assertTrue(Files.size(book) > 1_000_000, Files.size(book) + " bytes");
        Path data = dir.resolve("data/book"), run = dir.resolve("runs/book");

        Cli prepare = Cli.run("prepare", "--input", book.toString(), "--out", data.toString(), "--vocab", "320");
        assertEquals(0, prepare.rc(), prepare.toString());
        assertFalse(prepare.err().contains("warning"), prepare.err());
        assertTrue(prepare.out().matches("(?s).*\\nval +[1-9][0-9,]* docs .*"), prepare.out());

        Cli train = Cli.run("train", "--data", data.toString(), "--out", run.toString(), "--model", "micro", "--context", "32",
                "--batch", "4", "--max-steps", "20", "--eval-every", "10", "--eval-tokens", "512", "--samples", "0");
        assertEquals(0, train.rc(), train.toString());
        assertTrue(train.out().contains("validation: loss"), train.out());

        Cli generate = Cli.run("generate", "--run", run.toString(), "--prompt", "call me", "--max-tokens", "20");
        assertEquals(0, generate.rc(), generate.toString());
        assertTrue(generate.out().startsWith("call me"), generate.out());
        assertTrue(generate.out().length() > "call me\n".length(), generate.out());
    }
}
