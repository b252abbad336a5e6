package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.PageAllocatorMXBean;
import org.junit.jupiter.api.Test;

import javax.management.JMX;
import javax.management.MBeanServer;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXConnectorServer;
import javax.management.remote.JMXConnectorServerFactory;
import javax.management.remote.JMXServiceURL;
import javax.management.openmbean.CompositeData;
import java.lang.management.ManagementFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MXBean: registered under its name, attributes, operations, unregistered on close. */
class JmxTest {
    private static final MBeanServer SERVER = ManagementFactory.getPlatformMBeanServer();

    @Test
    void registerReadInvokeUnregister() throws Exception {
        ObjectName name = new ObjectName("io.hotmem:type=PageAllocator,name=jmx-test");
        try (PageAllocator a = PageAllocator.builder().name("jmx-test").jmx(true)
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .build()) {
            assertTrue(SERVER.isRegistered(name));
            // Generic JMX, as JConsole or a remote client sees it: open types only.
            assertEquals(a.status().render(), SERVER.getAttribute(name, "Status"));
            CompositeData[] nodes = (CompositeData[]) SERVER.getAttribute(name, "Nodes");
            assertEquals(2, nodes.length);
            assertEquals("ENABLED", nodes[1].get("state"));
            assertEquals(true, nodes[1].get("hotRemovable"));
            CompositeData[] zones = (CompositeData[]) nodes[1].get("zones");
            assertEquals(1024L, zones[0].get("presentPages"));

            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            assertTrue(((String) SERVER.invoke(name, "trimCaches", new Object[0], new String[0]))
                    .startsWith("gave back "));
            assertEquals("node 1 disabled\n", SERVER.invoke(name, "disable", new Object[]{1},
                    new String[]{"int"}));
            String report = (String) SERVER.invoke(name, "drain", new Object[]{1, 5000L},
                    new String[]{"int", "long"});
            assertTrue(report.startsWith("drain node 1: complete, moved 1 block"), report);
            assertEquals(0, a.nodeOf(h));
            // The typed proxy works too.
            PageAllocatorMXBean proxy = JMX.newMXBeanProxy(SERVER, name, PageAllocatorMXBean.class);
            assertTrue(proxy.unplug(1).startsWith("node 1 unplugged"));
            assertTrue(proxy.execute("status").contains("Node 1 unplugged"));
            assertEquals("node 1 plugged (disabled)\n", proxy.plug(1));
            assertEquals("node 1 enabled\n", proxy.enable(1));
            assertTrue(proxy.offline(1, 1000).startsWith("offline node 1: complete"));
            assertTrue(proxy.remap(0, 1000).startsWith("remap zone 0:"));
            assertThrows(IllegalStateException.class, () -> proxy.unplug(1));
            assertThrows(IllegalArgumentException.class, () -> proxy.execute("nonsense"));

            assertThrows(IllegalStateException.class, () -> PageAllocator.builder().name("jmx-test").jmx(true)
                    .node(NodeSpec.fixed(1L << 20)).build(), "a second allocator of that name cannot register");
            a.free(h);
        }
        assertFalse(SERVER.isRegistered(name), "unregistered on close");
    }

    /** Through a JMX connector on loopback, as another process (JConsole, jmxterm) would use it. */
    @Test
    void remoteClientThroughAConnector() throws Exception {
        JMXConnectorServer server = JMXConnectorServerFactory.newJMXConnectorServer(
                new JMXServiceURL("service:jmx:rmi://127.0.0.1"), null, SERVER);
        server.start();
        try (PageAllocator a = PageAllocator.builder().name("jmx-remote").jmx(true)
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .build();
             JMXConnector client = JMXConnectorFactory.connect(server.getAddress())) {
            MBeanServerConnection remote = client.getMBeanServerConnection();
            ObjectName name = new ObjectName("io.hotmem:type=PageAllocator,name=jmx-remote");
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
            assertTrue(((String) remote.getAttribute(name, "Status")).contains("Movable[1]: free 1023, active 1"));
            PageAllocatorMXBean proxy = JMX.newMXBeanProxy(remote, name, PageAllocatorMXBean.class);
            assertEquals("node 1 disabled\n", proxy.disable(1));
            assertTrue(proxy.drain(1, 5000).startsWith("drain node 1: complete, moved 1 block"));
            assertEquals("DISABLED", ((CompositeData[]) remote.getAttribute(name, "Nodes"))[1].get("state"));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> proxy.enable(0));
            assertTrue(e.getMessage().contains("node 0"), e.getMessage());
            a.free(h);
        } finally {
            server.stop();
        }
    }

    @Test
    void namesThatNeedQuotingAreQuoted() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("a,b=c").jmx(true).node(NodeSpec.fixed(1L << 20))
                .build()) {
            ObjectName name = new ObjectName("io.hotmem:type=PageAllocator,name=" + ObjectName.quote("a,b=c"));
            assertTrue(SERVER.isRegistered(name));
            assertTrue(((String) SERVER.getAttribute(name, "Status")).startsWith("Node 0 enabled"));
        }
    }

    @Test
    void withoutJmxNothingIsRegistered() throws Exception {
        try (PageAllocator a = PageAllocator.builder().name("no-jmx").node(NodeSpec.fixed(1L << 20)).build()) {
            assertFalse(SERVER.isRegistered(new ObjectName("io.hotmem:type=PageAllocator,name=no-jmx")));
        }
    }
}
