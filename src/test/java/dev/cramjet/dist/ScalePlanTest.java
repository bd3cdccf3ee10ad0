package dev.cramjet.dist;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.Model;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The scale-out cost model against cases computed by hand (the arithmetic is in the comments). */
class ScalePlanTest {
    private static final double GIB = 1024.0 * 1024 * 1024;

    @Test
    void countsParametersAsTheModelAllocatesThem() {
        // gpt2-124m: wte 50304·768 = 38,633,472; wpe 1024·768 = 786,432; a block 12·768² + 13·768 = 7,087,872,
        // twelve of them 85,054,464; the final LayerNorm 1,536. Total 124,475,904.
        assertEquals(124_475_904L, ScalePlan.parameters(GPTConfig.preset("gpt2-124m"), true));
        assertEquals(124_475_904L - 786_432, ScalePlan.parameters(GPTConfig.preset("gpt2-124m"), false));
        GPTConfig micro = GPTConfig.preset("micro");
        List<GPTConfig> shapes = List.of(micro, micro.with(Map.of("tied_embeddings", false), "t"),
                micro.with(Map.of("positions", "rope", "norm", "rms", "mlp", "swiglu", "bias", false), "t"));
        try (CpuBackend be = new CpuBackend()) {
            for (GPTConfig c : shapes) {
                GPT g = new GPT(be, c, 1, 8, 1, Model.Options.INFERENCE);
                assertEquals(g.parameterCount(true), ScalePlan.parameters(c, true), c.toString());
                assertEquals(g.parameterCount(false), ScalePlan.parameters(c, false), c.toString());
            }
        }
    }

    @Test
    void gpt2On8H100sOverNvlink() {
        ScalePlan.Plan p = ScalePlan.plan(new ScalePlan.Inputs(GPTConfig.preset("gpt2-124m"), 8, ScalePlan.Interconnect.NVLINK,
                ScalePlan.Gpu.of("h100"), 524_288, 16, 0.4));
        // 16 sequences × 1024 tokens × 8 GPUs = 131,072 tokens per micro-step: 4 accumulated for 524,288.
        assertEquals(4, p.accumulation());
        assertEquals(524_288, p.tokensPerStep());
        // 6·123,689,472 + 12·12·768·1024 = 742,136,832 + 113,246,208 FLOPs per token
        assertEquals(855_383_040.0, p.flopsPerToken());
        // 855,383,040 · 524,288 / (8 · 989e12 · 0.4) = 0.14170 s
        assertEquals(855_383_040.0 * 524_288 / (8 * 989e12 * 0.4), p.computeSeconds(), 1e-15);
        assertEquals(0.14170, p.computeSeconds(), 5e-6);
        // ring all-reduce: 2·7/8 · 2 B · 124,475,904 = 435,665,664 B over 360 GB/s = 1.2102 ms
        assertEquals(435_665_664.0, p.exchangeBytes());
        assertEquals(435_665_664.0 / 360e9, p.exchangeSeconds(), 1e-15);
        assertEquals(p.computeSeconds() / (p.computeSeconds() + p.exchangeSeconds()), p.scalingEfficiency(), 1e-15);
        assertEquals(0.9915, p.scalingEfficiency(), 1e-4);
        // activations: 16·1024 tokens · (34·12·768 + 2·50304) B = 16,384 · 413,952 = 6,782,189,568 B
        assertEquals(6_782_189_568.0, p.replicated().activations());
        // replicated: 16 B · 124,475,904 = 1,991,614,464 + activations + 1 GiB = 9,847,545,856 B
        assertEquals(1_991_614_464.0 + 6_782_189_568.0 + GIB, p.replicated().total());
        // ZeRO-1: 4 B·P + 12 B·P/8 = 497,903,616 + 186,713,856
        assertEquals(497_903_616.0 + 186_713_856.0 + 6_782_189_568.0 + GIB, p.sharded().total(), 1e-3);
        assertTrue(p.replicated().fits() && p.sharded().fits());
        assertTrue(p.layout().startsWith("data parallel with replicated optimizer state (--zero 0)"), p.layout());
    }

    @Test
    void aModelWhoseReplicatedStateDoesNotFitGetsZeroOne() {
        // 24 layers of width 2048: 50304·2048 + 1024·2048 + 24·(12·2048² + 13·2048) + 2·2048 = 1,313,722,368 parameters
        GPTConfig big = GPTConfig.preset("gpt2-124m").with(Map.of("n_layer", 24L, "n_embd", 2048L, "n_head", 16L), "t");
        ScalePlan.Plan p = ScalePlan.plan(new ScalePlan.Inputs(big, 8, ScalePlan.Interconnect.PCIE, ScalePlan.Gpu.of("l4"), 524_288, 4, 0.4));
        assertEquals(1_313_722_368L, p.parameters());
        // activations 4·1024 · (34·24·2048 + 2·50304) = 4,096 · 1,771,776 = 7,257,194,496 B
        // replicated 16·P = 21,019,557,888 B: 29.35 GB > 0.9 · 24 GB
        assertEquals(21_019_557_888.0 + 7_257_194_496.0 + GIB, p.replicated().total());
        assertFalse(p.replicated().fits());
        // ZeRO-1: 4·P + 12·P/8 = 5,254,889,472 + 1,970,583,552 → 15.56 GB fits
        assertEquals(5_254_889_472.0 + 1_970_583_552.0 + 7_257_194_496.0 + GIB, p.sharded().total(), 1e-3);
        assertTrue(p.sharded().fits());
        assertTrue(p.layout().startsWith("data parallel with ZeRO-1 (--zero 1)"), p.layout());
        // PCIe: 2·7/8 · 2 · 1,313,722,368 B = 4,598,028,288 B over 24 GB/s = 0.1916 s
        assertEquals(4_598_028_288.0 / 24e9, p.exchangeSeconds(), 1e-12);
    }

    @Test
    void beyondWhatShardingTheOptimizerSavesIsTensorParallelism() {
        GPTConfig huge = GPTConfig.preset("gpt2-124m").with(Map.of("n_layer", 48L, "n_embd", 6144L, "n_head", 48L), "t");
        ScalePlan.Plan p = ScalePlan.plan(new ScalePlan.Inputs(huge, 8, ScalePlan.Interconnect.NVLINK, ScalePlan.Gpu.of("h100"), 524_288, 1, 0.4));
        assertTrue(p.layout().startsWith("tensor or pipeline parallelism, which Cramjet does not implement"), p.layout());
        ScalePlan.Plan one = ScalePlan.plan(new ScalePlan.Inputs(GPTConfig.preset("gpt2-124m"), 1, ScalePlan.Interconnect.NVLINK,
                ScalePlan.Gpu.of("h100"), 524_288, 16, 0.4));
        assertEquals(0.0, one.exchangeSeconds());
        assertEquals(1.0, one.scalingEfficiency());
        assertEquals(32, one.accumulation());
    }

    @Test
    void describesEveryFigureWithItsAssumption() {
        List<String> lines = ScalePlan.describe(ScalePlan.plan(new ScalePlan.Inputs(GPTConfig.preset("gpt2-124m"), 8,
                ScalePlan.Interconnect.IB, ScalePlan.Gpu.of("h100"), 524_288, 16, 0.4)));
        String all = String.join("\n", lines);
        assertTrue(all.contains("40% MFU, assumed"), all);
        assertTrue(all.contains("InfiniBand NDR"), all);
        assertTrue(all.contains("not overlapped"), all);
        assertTrue(all.contains("Korthikanti") || all.contains("flash attention, no recomputation"), all);
        assertEquals("--interconnect: expected nvlink, ib or pcie, got 'ethernet'",
                assertThrows(CramjetException.class, () -> ScalePlan.Interconnect.of("ethernet")).getMessage());
    }
}
