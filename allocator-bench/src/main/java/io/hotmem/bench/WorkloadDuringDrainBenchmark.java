package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.RelocationReport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An application of 2 threads doing requests (read 4 longs, write 1, on one random allocation of 64 MiB of
 * 16 KiB allocations) with and without an operator thread that drains the data back and forth between two nodes
 * the whole time. SampleTime gives the request latency distribution (p99) and mean; throughput is
 * 2 threads / mean. On a 2-core machine the drainer competes with both application threads for CPU.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@Threads(2)
public class WorkloadDuringDrainBenchmark extends BenchmarkBase {
    static final int ALLOCATIONS = 4096;
    static final int SIZE = 16 * 1024;

    @Param({"false", "true"})
    public boolean drain;

    private PageAllocator a;
    private long[] handles;
    private Thread drainer;
    private final AtomicBoolean stop = new AtomicBoolean();
    /** Blocks moved by the drainer during the trial (printed at tear-down). */
    private final AtomicLong moved = new AtomicLong();

    @State(Scope.Thread)
    public static class Rng {
        final SplittableRandom r = new SplittableRandom(Thread.currentThread().threadId());
    }

    @Setup(Level.Trial)
    public void setUp() {
        a = PageAllocator.builder().name("workload")
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.hotRemovable(96L << 20))
                .node(NodeSpec.hotRemovable(96L << 20))
                .build();
        handles = new long[ALLOCATIONS];
        for (int i = 0; i < ALLOCATIONS; i++) {
            handles[i] = a.allocate(SIZE, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO | AllocFlags.THISNODE, 1);
        }
        if (drain) {
            drainer = Thread.ofPlatform().name("drainer").daemon().start(() -> {
                int from = 1;
                while (!stop.get()) {
                    a.disable(from);
                    RelocationReport r = a.drain(from, 3 - from, Duration.ofSeconds(30));
                    a.enable(from);
                    moved.addAndGet(r.moved());
                    from = 3 - from;
                }
            });
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        stop.set(true);
        if (drainer != null) {
            drainer.join();
            System.out.println("\n[drainer] moved " + moved.get() + " blocks during the trial");
        }
        a.close();
    }

    @Benchmark
    public long request(Rng rng) {
        long h = handles[rng.r.nextInt(ALLOCATIONS)];
        long off = 8L * rng.r.nextInt(SIZE / 8 - 4);
        long sum = a.getLong(h, off) + a.getLong(h, off + 8) + a.getLong(h, off + 16) + a.getLong(h, off + 24);
        a.setLong(h, off, sum);
        return sum;
    }
}
