package dev.cramjet.dist;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Local ranks as child processes: torchrun's variables, and one failure stopping the rest. */
class LauncherTest {
    @TempDir Path dir;

    private List<String> sh(String script) { return List.of("/bin/sh", "-c", script); }

    @Test
    void everyRankGetsItsVariablesAndSuccessIsZero() throws Exception {
        int status = Launcher.asChildren(3, sh("echo \"$RANK $LOCAL_RANK $WORLD_SIZE $MASTER_ADDR $MASTER_PORT $CRAMJET_CUDA_DEVICE $EXTRA\" > "
                + dir + "/rank-$RANK"), Map.of("EXTRA", "x"));
        assertEquals(0, status);
        String port = Files.readString(dir.resolve("rank-0")).split(" ")[4];
        for (int r = 0; r < 3; r++) {
            assertEquals(r + " " + r + " 3 127.0.0.1 " + port + " " + r + " x\n", Files.readString(dir.resolve("rank-" + r)));
        }
        assertTrue(Integer.parseInt(port) > 0);
    }

    @Test
    void aFailingRankStopsTheOthersAndItsStatusIsTheRuns() throws Exception {
        long t0 = System.nanoTime();
        int status = Launcher.asChildren(3, sh("echo $$ > " + dir + "/pid-$RANK; if [ $RANK = 1 ]; then sleep 0.5; exit 7; fi; exec sleep 60"), Map.of());
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(7, status);
        assertTrue(seconds < 20, "the others were stopped, not waited for: " + seconds + " s");
        for (int r : new int[] {0, 2}) {
            long pid = Long.parseLong(Files.readString(dir.resolve("pid-" + r)).trim());
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "rank " + r + " was stopped");
        }
    }

    @Test
    void statusesSayWhatHappened() {
        assertEquals("exited with status 2", Launcher.describe(2));
        assertEquals("was killed by signal 9", Launcher.describe(137));
    }

    @Test
    void mpirunStartsUnboundOversubscribedRanks() {
        assertEquals(List.of("/usr/bin/mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", "java", "-cp", "x"),
                Launcher.mpirun("/usr/bin/mpirun", 2, List.of("java", "-cp", "x")));
    }

    @Test
    void mpirunIsFoundThroughItsLinksSoOpenMpiSeesItsRealPrefix() throws Exception {
        Path real = Files.createDirectories(dir.resolve("usr/bin")).resolve("orterun");
        Files.writeString(real, "#!/bin/sh\n");
        assertTrue(real.toFile().setExecutable(true));
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Files.createSymbolicLink(bin.resolve("mpirun"), real);
        String path = dir.resolve("nothing-here") + java.io.File.pathSeparator + bin;
        assertEquals(real.toRealPath().toString(), Launcher.find("mpirun", null, path));
        assertEquals("/opt/x/mpirun", Launcher.find("mpirun", "/opt/x/mpirun", path));
        assertThrows(dev.cramjet.CramjetException.class, () -> Launcher.find("mpirun", null, dir.resolve("nothing-here").toString()));
    }
}
