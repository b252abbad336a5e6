package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.netty.buffer.ByteBuf;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

import java.lang.foreign.Arena;

/**
 * One allocate + free of a direct buffer of {@code size} bytes, one thread: hotmem (HOTREMOVABLE and non-movable)
 * beside Netty's PooledByteBufAllocator and AdaptiveByteBufAllocator (their thread caches on), libc malloc/free
 * through Linker downcalls, and a confined FFM arena. {@link AllocFreeTwoThreadsBenchmark} runs the same with two
 * threads sharing each allocator.
 */
@State(Scope.Thread)
@Threads(1)
public class AllocFreeBenchmark extends BenchmarkBase {
    @Param({"4096", "65536"})
    public int size;

    @Benchmark
    public long hotmemMovable(Peers p) {
        long h = p.hotmem.allocate(size, AllocFlags.HOTREMOVABLE);
        p.hotmem.free(h);
        return h;
    }

    @Benchmark
    public long hotmemFixed(Peers p) {
        long h = p.hotmem.allocate(size, AllocFlags.NONE);
        p.hotmem.free(h);
        return h;
    }

    @Benchmark
    public int nettyPooled(Peers p) {
        ByteBuf b = p.pooled.directBuffer(size);
        int c = b.capacity();
        b.release();
        return c;
    }

    @Benchmark
    public int nettyAdaptive(Peers p) {
        ByteBuf b = p.adaptive.directBuffer(size);
        int c = b.capacity();
        b.release();
        return c;
    }

    @Benchmark
    public long malloc() {
        long a = Peers.malloc(size);
        Peers.free(a);
        return a;
    }

    @Benchmark
    public long arenaConfined() {
        try (Arena arena = Arena.ofConfined()) {
            return arena.allocate(size).address();
        }
    }
}
