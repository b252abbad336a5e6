package io.hotmem.bench;

import io.netty.util.concurrent.DefaultThreadFactory;

import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * JMH worker threads as Netty {@code FastThreadLocalThread}s, so Netty's pools use their thread caches and are
 * measured at their best. Selected with {@code -Djmh.executor=CUSTOM -Djmh.executor.class=} this class; every
 * benchmark in the run, hotmem's included, runs on such threads.
 */
public class NettyThreadExecutor extends ThreadPoolExecutor {
    /**
     * @param size   worker threads
     * @param prefix thread name prefix
     */
    public NettyThreadExecutor(int size, String prefix) {
        super(size, size, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), new DefaultThreadFactory(prefix, true));
    }
}
