package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.PageAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

import java.util.SplittableRandom;

/**
 * A mixed-size pattern in the spirit of Netty's AllocationPatternSimulator: each thread keeps {@link #LIVE} buffers
 * live; one operation frees a random one and allocates a new one whose size comes from a fixed distribution
 * (50% 256 B to 4 KiB, 30% 4 to 16 KiB, 15% 16 to 64 KiB, 5% 64 to 256 KiB), from a seeded sequence of
 * {@link #SIZES} sizes shared by every allocator. {@link MixedPatternTwoThreadsBenchmark} runs it with two
 * threads. The live buffers are left to the end of the trial's JVM (the shared allocators close first).
 */
@Threads(1)
public class MixedPatternBenchmark extends BenchmarkBase {
    static final int LIVE = 256;
    static final int SIZES = 1 << 14;
    static final int[] SIZE_SEQUENCE = new int[SIZES];
    static final int[] SLOT_SEQUENCE = new int[SIZES];

    static {
        SplittableRandom r = new SplittableRandom(20261126);
        for (int i = 0; i < SIZES; i++) {
            int p = r.nextInt(100);
            SIZE_SEQUENCE[i] = p < 50 ? r.nextInt(256, 4097)
                    : p < 80 ? r.nextInt(4097, 16385)
                    : p < 95 ? r.nextInt(16385, 65537)
                    : r.nextInt(65537, 262145);
            SLOT_SEQUENCE[i] = r.nextInt(LIVE);
        }
    }

    /** One thread's live buffers in every allocator, and its position in the sequences. */
    @State(Scope.Thread)
    public static class Live {
        long[] hotmem = new long[LIVE];
        long[] hotmemFixed = new long[LIVE];
        ByteBuf[] pooled = new ByteBuf[LIVE];
        ByteBuf[] adaptive = new ByteBuf[LIVE];
        long[] malloc = new long[LIVE];
        int next;

        @Setup(Level.Trial)
        public void setUp(Peers p) {
            for (int i = 0; i < LIVE; i++) {
                int size = SIZE_SEQUENCE[(SIZES - 1 - i)];
                hotmem[i] = p.hotmem.allocate(size, AllocFlags.HOTREMOVABLE);
                hotmemFixed[i] = p.hotmem.allocate(size, AllocFlags.NONE);
                pooled[i] = p.pooled.directBuffer(size);
                adaptive[i] = p.adaptive.directBuffer(size);
                malloc[i] = Peers.malloc(size);
            }
        }

        int step() {
            return next = (next + 1) & (SIZES - 1);
        }
    }

    @Benchmark
    public long hotmemMovable(Peers p, Live l) {
        return replace(p.hotmem, l.hotmem, AllocFlags.HOTREMOVABLE, l.step());
    }

    @Benchmark
    public long hotmemFixed(Peers p, Live l) {
        return replace(p.hotmem, l.hotmemFixed, AllocFlags.NONE, l.step());
    }

    @Benchmark
    public int nettyPooled(Peers p, Live l) {
        return replace(p.pooled, l.pooled, l.step());
    }

    @Benchmark
    public int nettyAdaptive(Peers p, Live l) {
        return replace(p.adaptive, l.adaptive, l.step());
    }

    /** Frees the live hotmem buffer of step {@code i} and allocates its successor. */
    private static long replace(PageAllocator a, long[] live, int flags, int i) {
        int slot = SLOT_SEQUENCE[i];
        a.free(live[slot]);
        return live[slot] = a.allocate(SIZE_SEQUENCE[i], flags);
    }

    /** Releases the live Netty buffer of step {@code i} and allocates its successor. */
    private static int replace(ByteBufAllocator a, ByteBuf[] live, int i) {
        int slot = SLOT_SEQUENCE[i];
        live[slot].release();
        return (live[slot] = a.directBuffer(SIZE_SEQUENCE[i])).capacity();
    }

    @Benchmark
    public long malloc(Live l) {
        int i = l.step();
        int slot = SLOT_SEQUENCE[i];
        Peers.free(l.malloc[slot]);
        return l.malloc[slot] = Peers.malloc(SIZE_SEQUENCE[i]);
    }
}
