package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.RelocationReport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Drain bandwidth: 256 MiB of live data in blocks of {@code blockSize} moved off a node (disable, drain to the
 * other node, enable; the next operation moves it back), against {@code MemorySegment.copy} of the same 256 MiB
 * in one call and in block-sized pieces. One operation moves 256 MiB: bandwidth = 256 MiB / time per op.
 * Both nodes and the copy buffers are touched in setup, so no page faults are measured.
 */
@State(Scope.Benchmark)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class DrainBenchmark extends BenchmarkBase {
    static final long DATA = 256L << 20;

    @Param({"4096", "65536"})
    public int blockSize;

    private PageAllocator a;
    private int dataNode = 1;
    private Arena arena;
    private MemorySegment src;
    private MemorySegment dst;

    @Setup(Level.Trial)
    public void setUp() {
        a = PageAllocator.builder().name("drain").backing(MemoryBacking.AUTO)
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.hotRemovable(DATA + (16L << 20)))
                .node(NodeSpec.hotRemovable(DATA + (16L << 20)))
                .build();
        // Touch node 2 fully (allocate, write, free) so its pages are resident, then fill node 1 with live data.
        long[] touch = new long[(int) (DATA / (1L << 20))];
        for (int i = 0; i < touch.length; i++) {
            touch[i] = a.allocate(1L << 20, AllocFlags.HOTREMOVABLE | AllocFlags.ZERO | AllocFlags.THISNODE, 2);
        }
        for (long h : touch) {
            a.free(h);
        }
        for (long n = 0; n < DATA / blockSize; n++) {
            long h = a.allocate(blockSize, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            a.setLong(h, 0, n);
        }
        arena = Arena.ofShared();
        src = arena.allocate(DATA, 4096);
        dst = arena.allocate(DATA, 4096);
        src.fill((byte) 1);
        dst.fill((byte) 2);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        a.close();
        arena.close();
    }

    @Benchmark
    public long drain256MiB() {
        int from = dataNode;
        int to = 3 - from;
        a.disable(from);
        RelocationReport r = a.drain(from, to, Duration.ofMinutes(1));
        a.enable(from);
        if (!r.complete()) {
            throw new IllegalStateException(r.toString());
        }
        dataNode = to;
        return r.movedBytes();
    }

    @Benchmark
    public MemorySegment copy256MiB() {
        MemorySegment.copy(src, 0, dst, 0, DATA);
        return dst;
    }

    @Benchmark
    public MemorySegment copy256MiBInBlocks() {
        for (long off = 0; off < DATA; off += blockSize) {
            MemorySegment.copy(src, off, dst, off, blockSize);
        }
        return dst;
    }
}
