package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Access cost through a handle against a plain {@code MemorySegment}, single thread, in-cache working set
 * (256 allocations of 1 KiB = 256 KiB, the same bytes laid out in one 256 KiB segment for the baseline).
 * Reads are a dependent chain: each long read holds the position of the next one (a random permutation fixed in
 * setup), so both sides measure the latency of one read, not how many independent reads the CPU overlaps.
 * Nothing moves during this benchmark: it measures the protocol's cost, not contention.
 */
@State(Scope.Thread)
public class AccessBenchmark extends BenchmarkBase {
    static final int ALLOCATIONS = 256;
    static final int SIZE = 1024;
    static final int READS = 1024;

    private PageAllocator a;
    private long[] handles;
    private int start;
    private Arena arena;
    private MemorySegment plain;
    private long pinned;
    private long value;

    @Setup(Level.Trial)
    public void setUp() {
        a = PageAllocator.builder().name("access").node(NodeSpec.hotRemovable(16L << 20)).build();
        handles = new long[ALLOCATIONS];
        for (int i = 0; i < ALLOCATIONS; i++) {
            handles[i] = a.allocate(SIZE, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO);
            for (int off = 0; off < SIZE; off += 8) {
                a.setLong(handles[i], off, i * 1000L + off);
            }
        }
        arena = Arena.ofShared();
        plain = arena.allocate((long) ALLOCATIONS * SIZE, 4096);
        // A random cycle over READS positions; position p = (allocation p / 128, long p % 128).
        int positions = ALLOCATIONS * SIZE / 8;
        SplittableRandom r = new SplittableRandom(1);
        int[] cycle = r.ints(0, positions).distinct().limit(READS).toArray();
        for (int k = 0; k < READS; k++) {
            int p = cycle[k];
            int next = cycle[(k + 1) % READS];
            a.setLong(handles[p / (SIZE / 8)], 8L * (p % (SIZE / 8)), next);
            plain.set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * p, next);
        }
        start = cycle[0];
        pinned = handles[7];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        a.close();
        arena.close();
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long segmentGetLong() {
        long p = start;
        for (int k = 0; k < READS; k++) {
            p = plain.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * p);
        }
        return p;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long handleGetLong() {
        long p = start;
        for (int k = 0; k < READS; k++) {
            int q = (int) p;
            p = a.getLong(handles[q >>> 7], 8L * (q & 127));
        }
        return p;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long handleSetLong() {
        long p = start;
        for (int k = 0; k < READS; k++) {
            int q = (int) p;
            long h = handles[q >>> 7];
            long off = 8L * (q & 127);
            p = a.getLong(h, off);
            a.setLong(h, off, p);
        }
        return p;
    }

    @Benchmark
    public void pinSetLongClose() {
        try (Pin p = a.pin(pinned)) {
            p.setLong(8, ++value);
        }
    }
}
