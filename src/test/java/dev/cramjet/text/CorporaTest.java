package dev.cramjet.text;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

class CorporaTest {
    @TempDir Path dir;

    /** A minimal ustar archive (the reader ignores checksums and modes). */
    private static byte[] tar(String... namesAndContents) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < namesAndContents.length; i += 2) {
            byte[] body = namesAndContents[i + 1].getBytes(StandardCharsets.UTF_8);
            byte[] h = new byte[512];
            byte[] name = namesAndContents[i].getBytes(StandardCharsets.UTF_8);
            System.arraycopy(name, 0, h, 0, name.length);
            byte[] size = String.format("%011o", body.length).getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(size, 0, h, 124, size.length);
            h[156] = '0';
            System.arraycopy("ustar\00000".getBytes(StandardCharsets.US_ASCII), 0, h, 257, 8);
            out.write(h);
            out.write(body);
            out.write(new byte[(512 - body.length % 512) % 512]);
        }
        out.write(new byte[1024]);
        return out.toByteArray();
    }

    private Path tgz(byte[] tar) throws IOException {
        Path p = dir.resolve("pkg.tgz");
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(p))) { o.write(tar); }
        return p;
    }

    @Test
    void extractsOnlyAcceptedEntries() throws IOException {
        Path p = tgz(tar("package/dist/a.json", "[1]", "package/README.md", "readme", "package/dist/b.json", "x".repeat(1000)));
        int n = TarGz.extract(p, dir.resolve("x"), name -> name.endsWith(".json"));
        assertEquals(2, n);
        assertEquals("[1]", Files.readString(dir.resolve("x/package/dist/a.json")));
        assertEquals(1000, Files.size(dir.resolve("x/package/dist/b.json")));
        assertFalse(Files.exists(dir.resolve("x/package/README.md")));
    }

    @Test
    void refusesEntriesThatEscapeTheTarget() throws IOException {
        Path p = tgz(tar("package/../../evil.txt", "boom"));
        IOException e = assertThrows(IOException.class, () -> TarGz.extract(p, dir.resolve("x"), name -> true));
        assertTrue(e.getMessage().contains("would land outside"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("evil.txt")));
    }

    @Test
    void knownCorporaAndCachedFiles() throws IOException {
        assertEquals(List.of("brown", "chinese-poetry", "europarl", "spam-assassin"), Corpora.names());
        CramjetException e = assertThrows(CramjetException.class, () -> Corpora.get("wikipedia"));
        assertEquals("unknown corpus 'wikipedia'; known corpora: brown, chinese-poetry, europarl, spam-assassin", e.getMessage());

        // A populated cache is used as is: only the included files, sorted, and no fetch.
        Corpora corpora = new Corpora(dir);
        Corpora.Corpus poetry = Corpora.get("chinese-poetry");
        Path root = corpora.directory(poetry);
        for (String f : List.of("dist/quantangshi/poet.tang.0.json", "dist/quantangshi/authors.tang.json",
                "dist/songci/ci.song.0.json", "dist/songci/宋词三百首.json", "dist/quantangshi/poet.song.0.json")) {
            Files.createDirectories(root.resolve(f).getParent());
            Files.writeString(root.resolve(f), "[]");
        }
        assertEquals(List.of(root.resolve("dist/quantangshi/poet.song.0.json"), root.resolve("dist/quantangshi/poet.tang.0.json"),
                root.resolve("dist/songci/ci.song.0.json")), corpora.files(poetry));
    }
}
