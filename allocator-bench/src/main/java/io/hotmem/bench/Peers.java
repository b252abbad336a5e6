package io.hotmem.bench;

import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.netty.buffer.AdaptiveByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The allocators under test, one of each shared by all benchmark threads (as a service shares its pool): hotmem
 * with a 256 MiB fixed node and a 256 MiB hot-removable node, Netty's Pooled and Adaptive direct allocators, and
 * libc {@code malloc}/{@code free} through Linker downcalls.
 */
@State(Scope.Benchmark)
public class Peers {
    static final MethodHandle MALLOC;
    static final MethodHandle FREE;

    static {
        Linker linker = Linker.nativeLinker();
        MALLOC = linker.downcallHandle(linker.defaultLookup().find("malloc").orElseThrow(),
                FunctionDescriptor.of(ADDRESS, JAVA_LONG), Linker.Option.critical(false));
        FREE = linker.downcallHandle(linker.defaultLookup().find("free").orElseThrow(),
                FunctionDescriptor.ofVoid(ADDRESS), Linker.Option.critical(false));
    }

    PageAllocator hotmem;
    PooledByteBufAllocator pooled;
    AdaptiveByteBufAllocator adaptive;

    @Setup(Level.Trial)
    public void setUp() {
        PageAllocator.Builder b = PageAllocator.builder().name("bench")
                .node(NodeSpec.fixed(256L << 20))
                .node(NodeSpec.hotRemovable(256L << 20));
        Integer cacheMaxOrder = Integer.getInteger("hotmem.bench.threadCacheMaxOrder");
        if (cacheMaxOrder != null) {
            b.threadCacheMaxOrder(cacheMaxOrder); // -jvmArgsAppend -Dhotmem.bench.threadCacheMaxOrder=N
        }
        String residentFreeLimit = System.getProperty("hotmem.bench.residentFreeLimit");
        if (residentFreeLimit != null) {
            b.residentFreeLimit(Double.parseDouble(residentFreeLimit)); // -Dhotmem.bench.residentFreeLimit=0.05
        }
        hotmem = b.build();
        pooled = new PooledByteBufAllocator(true);
        adaptive = new AdaptiveByteBufAllocator(true, true);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        hotmem.close();
    }

    /** @return {@code malloc(bytes)}'s address */
    static long malloc(long bytes) {
        try {
            return ((MemorySegment) MALLOC.invokeExact(bytes)).address();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Calls {@code free(address)}. */
    static void free(long address) {
        try {
            FREE.invokeExact(MemorySegment.ofAddress(address));
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
