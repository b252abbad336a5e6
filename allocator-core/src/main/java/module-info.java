/**
 * hotmem: an off-heap page allocator whose memory nodes can be drained, unplugged and plugged again while the
 * service runs. Only the API package {@code io.hotmem} is exported; the engine lives in non-exported packages.
 */
module io.hotmem {
    requires jdk.jfr;
    requires java.management;
    requires org.agrona;

    exports io.hotmem;
}
