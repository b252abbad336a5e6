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
 * Access cost through a handle against plain {@code MemorySegment}s, single thread, in-cache working set
 * (256 allocations of 1 KiB = 256 KiB), with two baselines holding the same bytes: one plain segment per buffer
 * ({@code segments...}, what a pool of buffers gives) and one 256 KiB segment ({@code segment...}). A third baseline,
 * {@code pagedSegmentsGetLong}, places each plain 1 KiB segment at the start of its own 4 KiB page, as hotmem
 * places a 1 KiB allocation (its smallest block is one page): the same memory footprint and pages touched as the
 * handle benchmarks, so that the difference between it and {@code segmentsGetLong} is layout, and the difference
 * between it and {@code handleGetLong} is the handle protocol.
 * The {@code ...GetLong} and {@code ...SetLong} reads are a dependent chain: each long read holds the position of the
 * next one (a random permutation fixed in setup), so every side measures the latency of one read, not how many
 * independent reads the CPU overlaps. The {@code ...Independent} benchmarks read the same positions in a fixed
 * order and sum them (throughput); the {@code ...Record} ones read the 8 longs of a 64-byte record (one scoped read
 * through the handle) for 1,024 records in a fixed random order. Nothing moves during this benchmark: it measures
 * the protocol's cost, not contention.
 */
@State(Scope.Thread)
public class AccessBenchmark extends BenchmarkBase {
    static final int ALLOCATIONS = 256;
    static final int SIZE = 1024;
    static final int READS = 1024;

    private PageAllocator a;
    private long[] handles;
    private int start;
    static final int RECORD = 64;

    private Arena arena;
    private MemorySegment plain;
    private MemorySegment[] segments;
    private MemorySegment[] pagedSegments;
    static final long PAGE = 4096;
    private int[] order;
    private int[] records;
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
        segments = new MemorySegment[ALLOCATIONS];
        for (int i = 0; i < ALLOCATIONS; i++) {
            segments[i] = arena.allocate(SIZE, 64);
        }
        MemorySegment paged = arena.allocate(ALLOCATIONS * PAGE, PAGE);
        pagedSegments = new MemorySegment[ALLOCATIONS];
        for (int i = 0; i < ALLOCATIONS; i++) {
            pagedSegments[i] = paged.asSlice(i * PAGE, SIZE);
        }
        // A random cycle over READS positions; position p = (allocation p / 128, long p % 128).
        int positions = ALLOCATIONS * SIZE / 8;
        SplittableRandom r = new SplittableRandom(1);
        int[] cycle = r.ints(0, positions).distinct().limit(READS).toArray();
        for (int k = 0; k < READS; k++) {
            int p = cycle[k];
            int next = cycle[(k + 1) % READS];
            a.setLong(handles[p / (SIZE / 8)], 8L * (p % (SIZE / 8)), next);
            plain.set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * p, next);
            segments[p / (SIZE / 8)].set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * (p % (SIZE / 8)), next);
            pagedSegments[p / (SIZE / 8)].set(ValueLayout.JAVA_LONG_UNALIGNED, 8L * (p % (SIZE / 8)), next);
        }
        start = cycle[0];
        order = cycle;
        // Records: (allocation, 64-byte record) pairs in a random order.
        int perAllocation = SIZE / RECORD;
        records = r.ints(0, ALLOCATIONS * perAllocation).limit(READS).toArray();
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
    public long segmentsGetLong() {
        long p = start;
        for (int k = 0; k < READS; k++) {
            int q = (int) p;
            p = segments[q >>> 7].get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * (q & 127));
        }
        return p;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long pagedSegmentsGetLong() {
        long p = start;
        for (int k = 0; k < READS; k++) {
            int q = (int) p;
            p = pagedSegments[q >>> 7].get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * (q & 127));
        }
        return p;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long segmentsSetLong() {
        long p = start;
        for (int k = 0; k < READS; k++) {
            int q = (int) p;
            MemorySegment s = segments[q >>> 7];
            long off = 8L * (q & 127);
            p = s.get(ValueLayout.JAVA_LONG_UNALIGNED, off);
            s.set(ValueLayout.JAVA_LONG_UNALIGNED, off, p);
        }
        return p;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long segmentGetLongIndependent() {
        long sum = 0;
        for (int p : order) {
            sum += plain.get(ValueLayout.JAVA_LONG_UNALIGNED, 8L * p);
        }
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long handleGetLongIndependent() {
        long sum = 0;
        for (int p : order) {
            sum += a.getLong(handles[p >>> 7], 8L * (p & 127));
        }
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long segmentsRecord() {
        long sum = 0;
        for (int rec : records) {
            MemorySegment s = segments[rec >>> 4];
            long off = (long) (rec & 15) * RECORD;
            sum += s.get(ValueLayout.JAVA_LONG_UNALIGNED, off)
                    + s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 8)
                    + s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 16)
                    + s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 24)
                    + s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 32)
                    + s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 40)
                    + s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 48)
                    + s.get(ValueLayout.JAVA_LONG_UNALIGNED, off + 56);
        }
        return sum;
    }

    @Benchmark
    @OperationsPerInvocation(READS)
    public long handleRecord() {
        long sum = 0;
        for (int rec : records) {
            sum += a.readAsLong(handles[rec >>> 4], (long) (rec & 15) * RECORD, RECORD, AccessBenchmark::sumRecord);
        }
        return sum;
    }

    private static long sumRecord(MemorySegment s) {
        return s.get(ValueLayout.JAVA_LONG_UNALIGNED, 0)
                + s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8)
                + s.get(ValueLayout.JAVA_LONG_UNALIGNED, 16)
                + s.get(ValueLayout.JAVA_LONG_UNALIGNED, 24)
                + s.get(ValueLayout.JAVA_LONG_UNALIGNED, 32)
                + s.get(ValueLayout.JAVA_LONG_UNALIGNED, 40)
                + s.get(ValueLayout.JAVA_LONG_UNALIGNED, 48)
                + s.get(ValueLayout.JAVA_LONG_UNALIGNED, 56);
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
