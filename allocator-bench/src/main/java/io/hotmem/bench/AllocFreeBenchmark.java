package io.hotmem.bench;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.netty.buffer.AdaptiveByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.lang.foreign.Arena;

/**
 * One allocate + free of a direct buffer of {@code size} bytes, single thread: hotmem (HOTREMOVABLE and
 * non-movable) beside Netty's PooledByteBufAllocator and AdaptiveByteBufAllocator (their thread caches on) and a
 * confined FFM arena. The foundation's baseline; the fast-path issue is measured against it.
 */
@State(Scope.Thread)
public class AllocFreeBenchmark extends BenchmarkBase {
    @Param({"4096", "65536"})
    public int size;

    private PageAllocator hotmem;
    private PooledByteBufAllocator pooled;
    private AdaptiveByteBufAllocator adaptive;

    @Setup(Level.Trial)
    public void setUp() {
        hotmem = PageAllocator.builder().name("bench")
                .node(NodeSpec.fixed(256L << 20))
                .node(NodeSpec.hotRemovable(256L << 20))
                .build();
        pooled = new PooledByteBufAllocator(true);
        adaptive = new AdaptiveByteBufAllocator(true, true);
        // Warm the common path of every allocator on this (the measuring) thread.
        for (int i = 0; i < 10_000; i++) {
            hotmemMovable();
            hotmemFixed();
            nettyPooled();
            nettyAdaptive();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        hotmem.close();
    }

    @Benchmark
    public long hotmemMovable() {
        long h = hotmem.allocate(size, AllocFlags.HOTREMOVABLE);
        hotmem.free(h);
        return h;
    }

    @Benchmark
    public long hotmemFixed() {
        long h = hotmem.allocate(size, AllocFlags.NONE);
        hotmem.free(h);
        return h;
    }

    @Benchmark
    public int nettyPooled() {
        ByteBuf b = pooled.directBuffer(size);
        int c = b.capacity();
        b.release();
        return c;
    }

    @Benchmark
    public int nettyAdaptive() {
        ByteBuf b = adaptive.directBuffer(size);
        int c = b.capacity();
        b.release();
        return c;
    }

    @Benchmark
    public long arenaConfined() {
        try (Arena arena = Arena.ofConfined()) {
            return arena.allocate(size).address();
        }
    }
}
