package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Which rank a process is, from torchrun's, Open MPI's and Slurm's variables. */
class LaunchTest {
    @Test
    void readsEachLaunchersVariables() {
        assertEquals(new Launch("torchrun", 3, 8, 1, 4, "node0", 29500),
                Launch.from(Map.of("RANK", "3", "WORLD_SIZE", "8", "LOCAL_RANK", "1", "LOCAL_WORLD_SIZE", "4", "MASTER_ADDR", "node0")));
        assertEquals(new Launch("Open MPI", 1, 2, 1, 2, null, 29500),
                Launch.from(Map.of("OMPI_COMM_WORLD_RANK", "1", "OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_LOCAL_RANK", "1",
                        "OMPI_COMM_WORLD_LOCAL_SIZE", "2")));
        assertEquals(new Launch("Slurm", 5, 16, 1, 4, "10.0.0.7", 6000),
                Launch.from(Map.of("SLURM_PROCID", "5", "SLURM_NTASKS", "16", "SLURM_LOCALID", "1", "SLURM_NTASKS_PER_NODE", "4",
                        "SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7", "MASTER_PORT", "6000")));
        assertEquals(Launch.SINGLE, Launch.from(Map.of("HOME", "/root")));
        assertFalse(Launch.SINGLE.distributed());
    }

    @Test
    void torchrunWinsOverOpenMpiWhichWinsOverSlurm() {
        Map<String, String> slurm = Map.of("SLURM_PROCID", "0", "SLURM_NTASKS", "1", "SLURM_LOCALID", "0");
        var mpiInSlurm = new java.util.HashMap<>(slurm);
        mpiInSlurm.putAll(Map.of("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "4"));
        assertEquals("Open MPI", Launch.from(mpiInSlurm).launcher());
        assertEquals(2, Launch.from(mpiInSlurm).rank());
        assertTrue(Launch.from(mpiInSlurm).underMpi());
        var torch = new java.util.HashMap<>(mpiInSlurm);
        torch.putAll(Map.of("RANK", "1", "WORLD_SIZE", "2"));
        assertEquals("torchrun", Launch.from(torch).launcher());
        assertEquals(Launch.SINGLE, Launch.from(Map.of("SLURM_PROCID", "0", "SLURM_NTASKS", "8")), "an sbatch script's own shell is no rank");
    }

    @Test
    void badValuesNameTheVariable() {
        assertEquals("RANK=x: expected a whole number (a launcher sets it)",
                assertThrows(CramjetException.class, () -> Launch.from(Map.of("RANK", "x", "WORLD_SIZE", "2"))).getMessage());
        assertEquals("torchrun: rank 2 of a world of 2 is impossible (a rank is in [0, size))",
                assertThrows(CramjetException.class, () -> Launch.from(Map.of("RANK", "2", "WORLD_SIZE", "2"))).getMessage());
        assertEquals("MASTER_PORT=70000: expected a TCP port in [1, 65535]",
                assertThrows(CramjetException.class, () -> Launch.from(Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_PORT", "70000"))).getMessage());
        Launch noMaster = Launch.from(Map.of("RANK", "1", "WORLD_SIZE", "2"));
        assertTrue(assertThrows(CramjetException.class, noMaster::master).getMessage().startsWith("torchrun started rank 1 of 2 without MASTER_ADDR"));
    }
}
