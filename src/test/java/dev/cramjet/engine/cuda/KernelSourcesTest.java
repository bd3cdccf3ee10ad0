package dev.cramjet.engine.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every kernel resource compiles with nvcc for sm_90 (skipped where nvcc is absent), so a syntax or type error
 * shows up in CI instead of on a GPU. Compiled with -G: front-end and code generation without the optimiser, which
 * would take minutes for the unrolled attention kernels on a 2-core machine; NVRTC on the GPU does the full build.
 */
class KernelSourcesTest {
    @Test
    void everyKernelFileCompilesWithNvcc(@TempDir Path tmp) throws Exception {
        Path nvcc = Nvcc.find().orElse(null);
        Assumptions.assumeTrue(nvcc != null, "nvcc not installed");
        Path dir = Nvcc.kernelDir();
        List<List<String>> jobs = new ArrayList<>();
        for (String file : Kernels.FILES) {
            List<String> defines = file.equals("attention") ? List.of("16", "64", "128") : List.of("");
            for (String hs : defines) {
                List<String> cmd = new ArrayList<>(List.of(nvcc.toString(), "-arch=sm_90", "-ptx", "-G", "--std=c++17",
                        "-I", dir.toString(), dir.resolve(file + ".cu").toString(), "-o", tmp.resolve(file + hs + ".ptx").toString()));
                if (!hs.isEmpty()) cmd.add("-DHEAD_SIZE=" + hs);
                jobs.add(cmd);
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Nvcc.Run>> runs = new ArrayList<>();
            for (List<String> cmd : jobs) runs.add(pool.submit(() -> Nvcc.run(cmd, null)));
            for (int i = 0; i < jobs.size(); i++) {
                Nvcc.Run r = runs.get(i).get();
                assertEquals(0, r.status(), String.join(" ", jobs.get(i)) + "\n" + r.output());
            }
        } finally {
            pool.shutdownNow();
        }
        for (String file : Kernels.FILES) {
            String ptx = Files.readString(tmp.resolve(file + (file.equals("attention") ? "64" : "") + ".ptx"));
            assertTrue(ptx.contains(".entry"), file + ".cu produced no kernel entry point");
        }
    }

    @Test
    void everyLaunchedKernelExistsInItsSource() {
        // The backend names kernels as strings; each must be an extern "C" __global__ of the file it asks.
        String[][] used = {
            {"elementwise", "convert_f32_bf16", "convert_bf16_f32", "add_bf16", "add_f32", "scale_bf16", "scale_f32",
                "gelu_forward", "gelu_backward", "glu_forward", "glu_backward", "dropout", "residual_dropout",
                "colsum_partial", "colsum_finish_bf16", "colsum_finish_f32"},
            {"rows", "embedding_forward_bf16", "embedding_forward_q8", "embedding_backward_bf16", "embedding_backward_f32",
                "pool_forward", "pool_backward"},
            {"norm", "layernorm_forward", "layernorm_backward", "rmsnorm_forward", "rmsnorm_backward"},
            {"quant", "q8_quantize_f32", "q8_quantize_bf16", "q8_dequantize_f32", "q8_dequantize_bf16", "q8_gemv"},
            {"rope", "rope"},
            {"attention", "attention_forward_tc", "attention_backward_dot", "attention_backward_kv_tc",
                "attention_backward_q_tc", "attention_decode", "kv_cache_write"},
            {"loss", "cross_entropy"},
            {"optim", "sum_squares_bf16", "sum_squares_f32", "norm_finish", "adamw_bf16_bf16", "adamw_bf16_f32",
                "adamw_f32_f32", "adamw_f32_bf16"},
        };
        for (String[] row : used) {
            String src = Kernels.source(row[0] + ".cu");
            for (int i = 1; i < row.length; i++) {
                boolean declared = src.matches("(?s).*__global__ void (__launch_bounds__\\(\\w+\\) )?\\s*" + row[i] + "\\(.*")
                        || src.contains("ADAMW(" + row[i] + ",");
                assertTrue(declared, row[0] + ".cu has no kernel " + row[i]);
            }
        }
    }
}
