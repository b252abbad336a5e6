package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.LeakDetection;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.lang.foreign.ValueLayout;

/**
 * The cost of each leak detection level on the paths it touches, one thread, in one run: allocate + free of
 * 4 KiB (HOTREMOVABLE, through the thread cache), pin + setLong + close, pin + a read through the pin's segment +
 * close (PARANOID scopes that segment: an arena per pin), and an optimistic getLong (no level touches it). Pins and
 * reads cycle over {@value #HANDLES} allocations made in setup, so that at SAMPLED about as many of them are
 * tracked as the sampling interval says ({@link LeakDetection#SAMPLING_INTERVAL}): a benchmark on one handle
 * would measure either a tracked or an untracked pin, by chance.
 */
@State(Scope.Thread)
public class LeakDetectionBenchmark extends BenchmarkBase {
    static final int HANDLES = 4096;

    @Param({"DISABLED", "SAMPLED", "PARANOID"})
    public LeakDetection level;

    private PageAllocator a;
    private long[] handles;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        a = PageAllocator.builder().name("leaks-" + level).leakDetection(level)
                .node(NodeSpec.hotRemovable(64L << 20)).build();
        handles = new long[HANDLES];
        for (int i = 0; i < HANDLES; i++) {
            handles[i] = a.allocate(1024, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (long h : handles) {
            a.free(h);
        }
        a.close();
    }

    private long nextHandle() {
        return handles[next++ & (HANDLES - 1)];
    }

    @Benchmark
    public long allocFree() {
        long h = a.allocate(4096, AllocFlags.HOTREMOVABLE);
        a.free(h);
        return h;
    }

    @Benchmark
    public void pinSetLongClose() {
        try (Pin p = a.pin(nextHandle())) {
            p.setLong(8, next);
        }
    }

    @Benchmark
    public long pinSegmentGetLongClose() {
        try (Pin p = a.pin(nextHandle())) {
            return p.segment().get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
        }
    }

    @Benchmark
    public long getLong() {
        return a.getLong(nextHandle(), 8);
    }
}
