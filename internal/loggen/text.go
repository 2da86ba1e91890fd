package loggen

import "strings"

// Level and logger as log4j2's "%-5p %c{1} - " prints them.
const (
	infoAccess   = "INFO  AccessLog - "
	infoOIDC     = "INFO  OpenIDConnectIdP - "
	warnOIDC     = "WARN  OpenIDConnectIdP - "
	anonymousDN  = "uid=Anonymous,o=Tremolo"
	appIdP       = "k8sidp"
	idpPath      = "/auth/idp/k8sIdp"
	probeURL     = "https://127.0.0.1:8443/auth/idp/k8sIdp/.well-known/openid-configuration"
	apiServerURL = "https://10.96.0.1:443"
)

// stack is a Java stack trace as log4j2 prints it after the message line.
type stack struct {
	text  string
	lines int64
}

// newStack joins trace lines, indenting frames ("at …") and elisions
// ("... N more") with a tab as Throwable.printStackTrace does.
func newStack(lines ...string) stack {
	var b strings.Builder
	for _, l := range lines {
		if strings.HasPrefix(l, "at ") || strings.HasPrefix(l, "... ") {
			b.WriteByte('\t')
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return stack{text: b.String(), lines: int64(len(lines))}
}

// undertowFrames is the bottom of every request thread's stack.
var undertowFrames = []string{
	"at io.undertow.servlet.core.ManagedFilter.doFilter(ManagedFilter.java:67)",
	"at io.undertow.servlet.handlers.FilterHandler$FilterChainImpl.doFilter(FilterHandler.java:131)",
	"at io.undertow.servlet.handlers.FilterHandler.handleRequest(FilterHandler.java:84)",
	"at io.undertow.servlet.handlers.security.ServletSecurityRoleHandler.handleRequest(ServletSecurityRoleHandler.java:62)",
	"at io.undertow.servlet.handlers.ServletChain$1.handleRequest(ServletChain.java:68)",
	"at io.undertow.servlet.handlers.ServletDispatchingHandler.handleRequest(ServletDispatchingHandler.java:36)",
	"at io.undertow.server.handlers.PredicateHandler.handleRequest(PredicateHandler.java:43)",
	"at io.undertow.servlet.handlers.ServletInitialHandler.handleFirstRequest(ServletInitialHandler.java:275)",
	"at io.undertow.servlet.handlers.ServletInitialHandler$2.call(ServletInitialHandler.java:135)",
	"at io.undertow.servlet.handlers.ServletInitialHandler.dispatchRequest(ServletInitialHandler.java:255)",
	"at io.undertow.server.Connectors.executeRootHandler(Connectors.java:393)",
	"at io.undertow.server.HttpServerExchange$1.run(HttpServerExchange.java:859)",
	"at org.jboss.threads.ContextClassLoaderSavingRunnable.run(ContextClassLoaderSavingRunnable.java:35)",
	"at org.jboss.threads.EnhancedQueueExecutor.safeRun(EnhancedQueueExecutor.java:1990)",
	"at org.jboss.threads.EnhancedQueueExecutor$ThreadBody.doRunTask(EnhancedQueueExecutor.java:1486)",
	"at org.jboss.threads.EnhancedQueueExecutor$ThreadBody.run(EnhancedQueueExecutor.java:1377)",
	"at java.base/java.lang.Thread.run(Thread.java:840)",
}

func frames(groups ...[]string) []string {
	var all []string
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

// refreshStack follows "Could not refresh token" when a client sends a
// refresh token that is not one OpenUnison issued.
var refreshStack = newStack(frames(
	[]string{
		"com.google.gson.JsonSyntaxException: java.lang.IllegalStateException: Expected BEGIN_OBJECT but was STRING at line 1 column 1 path $",
		"at com.google.gson.internal.bind.ReflectiveTypeAdapterFactory$Adapter.read(ReflectiveTypeAdapterFactory.java:226)",
		"at com.google.gson.Gson.fromJson(Gson.java:932)",
		"at com.google.gson.Gson.fromJson(Gson.java:897)",
		"at com.google.gson.Gson.fromJson(Gson.java:846)",
		"at com.google.gson.Gson.fromJson(Gson.java:817)",
		"at com.tremolosecurity.idp.providers.OpenIDConnectIdP.refreshToken(OpenIDConnectIdP.java:1236)",
		"at com.tremolosecurity.idp.providers.OpenIDConnectIdP.doPost(OpenIDConnectIdP.java:742)",
		"at com.tremolosecurity.idp.server.IDP.doPost(IDP.java:211)",
		"at javax.servlet.http.HttpServlet.service(HttpServlet.java:681)",
		"at com.tremolosecurity.proxy.ProxySys.doURI(ProxySys.java:241)",
		"at com.tremolosecurity.proxy.auth.AuthMgrSys.doAuthMgr(AuthMgrSys.java:109)",
		"at com.tremolosecurity.proxy.SessionManagerImpl.loadSession(SessionManagerImpl.java:264)",
		"at com.tremolosecurity.proxy.UnisonServletFilter.doFilter(UnisonServletFilter.java:311)",
	},
	undertowFrames,
	[]string{
		"Caused by: java.lang.IllegalStateException: Expected BEGIN_OBJECT but was STRING at line 1 column 1 path $",
		"at com.google.gson.stream.JsonReader.beginObject(JsonReader.java:393)",
		"at com.google.gson.internal.bind.ReflectiveTypeAdapterFactory$Adapter.read(ReflectiveTypeAdapterFactory.java:215)",
		"... 30 more",
	},
)...)

// errorRecord is a WARN or ERROR unrelated to tokens, with its trace.
type errorRecord struct {
	thread      int // index into noiseThreads, or -1 for a request thread
	levelLogger string
	msg         string
	stack       stack
}

var errorRecords = []errorRecord{
	{-1, "ERROR ProxySys - ", "Could not proxy request to https://kubernetes.default.svc.cluster.local", newStack(frames(
		[]string{
			"java.net.SocketTimeoutException: Read timed out",
			"at java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)",
			"at java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:314)",
			"at java.base/sun.nio.ch.NioSocketImpl.read(NioSocketImpl.java:355)",
			"at java.base/sun.nio.ch.NioSocketImpl$1.read(NioSocketImpl.java:808)",
			"at java.base/java.net.Socket$SocketInputStream.read(Socket.java:966)",
			"at java.base/sun.security.ssl.SSLSocketInputRecord.read(SSLSocketInputRecord.java:484)",
			"at java.base/sun.security.ssl.SSLSocketInputRecord.readHeader(SSLSocketInputRecord.java:478)",
			"at java.base/sun.security.ssl.SSLSocketImpl$AppInputStream.read(SSLSocketImpl.java:1003)",
			"at org.apache.http.impl.io.SessionInputBufferImpl.streamRead(SessionInputBufferImpl.java:137)",
			"at org.apache.http.impl.io.SessionInputBufferImpl.fillBuffer(SessionInputBufferImpl.java:153)",
			"at org.apache.http.impl.io.SessionInputBufferImpl.readLine(SessionInputBufferImpl.java:280)",
			"at org.apache.http.impl.conn.DefaultHttpResponseParser.parseHead(DefaultHttpResponseParser.java:138)",
			"at org.apache.http.impl.io.AbstractMessageParser.parse(AbstractMessageParser.java:259)",
			"at org.apache.http.impl.DefaultBHttpClientConnection.receiveResponseHeader(DefaultBHttpClientConnection.java:163)",
			"at org.apache.http.protocol.HttpRequestExecutor.doReceiveResponse(HttpRequestExecutor.java:273)",
			"at org.apache.http.impl.execchain.MainClientExec.execute(MainClientExec.java:272)",
			"at org.apache.http.impl.execchain.ProtocolExec.execute(ProtocolExec.java:186)",
			"at org.apache.http.impl.client.InternalHttpClient.doExecute(InternalHttpClient.java:185)",
			"at org.apache.http.impl.client.CloseableHttpClient.execute(CloseableHttpClient.java:83)",
			"at com.tremolosecurity.proxy.postProcess.UriRequestProcess.postProcess(UriRequestProcess.java:166)",
			"at com.tremolosecurity.proxy.ProxySys.doURI(ProxySys.java:297)",
			"at com.tremolosecurity.proxy.auth.AzSys.doAz(AzSys.java:113)",
			"at com.tremolosecurity.proxy.UnisonServletFilter.doFilter(UnisonServletFilter.java:311)",
		},
		undertowFrames,
	)...)},
	{-1, "ERROR UnisonServletFilter - ", "Could not complete request", newStack(frames(
		[]string{
			"java.io.IOException: Broken pipe",
			"at java.base/sun.nio.ch.FileDispatcherImpl.write0(Native Method)",
			"at java.base/sun.nio.ch.SocketDispatcher.write(SocketDispatcher.java:62)",
			"at java.base/sun.nio.ch.IOUtil.writeFromNativeBuffer(IOUtil.java:132)",
			"at java.base/sun.nio.ch.IOUtil.write(IOUtil.java:97)",
			"at java.base/sun.nio.ch.SocketChannelImpl.write(SocketChannelImpl.java:532)",
			"at org.xnio.nio.NioSocketConduit.write(NioSocketConduit.java:162)",
			"at io.undertow.protocols.ssl.SslConduit.doWrap(SslConduit.java:945)",
			"at io.undertow.server.protocol.http.HttpResponseConduit.write(HttpResponseConduit.java:671)",
			"at io.undertow.servlet.spec.ServletOutputStreamImpl.write(ServletOutputStreamImpl.java:150)",
			"at com.tremolosecurity.proxy.ProxyResponse.pushHeadersAndCookies(ProxyResponse.java:96)",
			"at com.tremolosecurity.proxy.UnisonServletFilter.doFilter(UnisonServletFilter.java:347)",
		},
		undertowFrames,
	)...)},
	{0, "WARN  K8sWatcher - ", "Watch failed, retrying in 5 seconds", newStack(
		"javax.net.ssl.SSLException: Connection reset",
		"at java.base/sun.security.ssl.Alert.createSSLException(Alert.java:127)",
		"at java.base/sun.security.ssl.TransportContext.fatal(TransportContext.java:331)",
		"at java.base/sun.security.ssl.SSLSocketImpl.handleException(SSLSocketImpl.java:1715)",
		"at java.base/sun.security.ssl.SSLSocketImpl$AppInputStream.read(SSLSocketImpl.java:1014)",
		"at okio.InputStreamSource.read(JvmOkio.kt:94)",
		"at okhttp3.internal.http1.Http1ExchangeCodec$ChunkedSource.read(Http1ExchangeCodec.kt:420)",
		"at com.tremolosecurity.k8s.watch.K8sWatcher.runWatch(K8sWatcher.java:182)",
		"at com.tremolosecurity.k8s.watch.K8sWatcher$1.run(K8sWatcher.java:97)",
		"at java.base/java.lang.Thread.run(Thread.java:840)",
		"Caused by: java.net.SocketException: Connection reset",
		"at java.base/sun.nio.ch.NioSocketImpl.implRead(NioSocketImpl.java:328)",
		"at java.base/sun.nio.ch.NioSocketImpl.read(NioSocketImpl.java:355)",
		"at java.base/java.net.Socket$SocketInputStream.read(Socket.java:966)",
		"at java.base/sun.security.ssl.SSLSocketInputRecord.read(SSLSocketInputRecord.java:484)",
		"... 6 more",
	)},
	{3, "ERROR ProvisioningEngineImpl - ", "Could not run workflow 'jitdb'", newStack(
		"com.tremolosecurity.provisioning.core.ProvisioningException: Could not load user from target 'activedirectory'",
		"at com.tremolosecurity.provisioning.core.providers.ADProvider.findUser(ADProvider.java:512)",
		"at com.tremolosecurity.provisioning.tasks.Mapping.doTask(Mapping.java:118)",
		"at com.tremolosecurity.provisioning.core.WorkflowImpl.executeWorkflow(WorkflowImpl.java:302)",
		"at com.tremolosecurity.provisioning.core.ProvisioningEngineImpl.executeWorkflow(ProvisioningEngineImpl.java:1141)",
		"at com.tremolosecurity.provisioning.jms.JMSMessageListener.onMessage(JMSMessageListener.java:87)",
		"at java.base/java.lang.Thread.run(Thread.java:840)",
		"Caused by: javax.naming.CommunicationException: ldaps.corp.example.com:636 [Root exception is java.net.ConnectException: Connection refused]",
		"at java.naming/com.sun.jndi.ldap.Connection.<init>(Connection.java:252)",
		"at java.naming/com.sun.jndi.ldap.LdapClient.<init>(LdapClient.java:137)",
		"at com.novell.ldap.LDAPConnection.connect(LDAPConnection.java:1675)",
		"at com.tremolosecurity.provisioning.core.providers.ADProvider.findUser(ADProvider.java:488)",
		"... 5 more",
		"Caused by: java.net.ConnectException: Connection refused",
		"at java.base/sun.nio.ch.Net.pollConnect(Native Method)",
		"at java.base/sun.nio.ch.NioSocketImpl.connect(NioSocketImpl.java:633)",
		"... 8 more",
	)},
}

// noiseThreads are the non-request threads of a running OpenUnison.
var noiseThreads = []string{
	"Thread-18",
	"Timer-0",
	"pool-4-thread-1",
	"openunison_Worker-2",
	"QuartzScheduler_openunison-NON_CLUSTERED_MisfireHandler",
	"Thread-23",
}

// crdKinds are the OpenUnison custom resources its watchers follow.
var crdKinds = []string{
	"trusts", "authmechs", "authchains", "resultgroups", "applications",
	"orgs", "portalurls", "targets", "workflows", "oidc-sessions",
}

// Paths as the dashboard's browser code and kubectl through the API proxy
// request them; OpenUnison logs no query string. {ns} stands for each of
// namespaces.
var dashboardPaths = expand(
	"/api/v1/csrftoken/login", "/api/v1/login/status", "/api/v1/settings/global", "/api/v1/namespace",
	"/api/v1/integration/api-server/state", "/api/v1/pod/{ns}", "/api/v1/deployment/{ns}", "/api/v1/event/{ns}",
	"/api/v1/node", "/api/v1/systembanner", "/api/v1/settings/pinner", "/assets/fonts/roboto.woff2",
)

var apiPaths = expand(
	"/api/v1/namespaces/{ns}/pods", "/apis/apps/v1/namespaces/{ns}/deployments", "/api/v1/namespaces/{ns}/configmaps",
	"/api", "/apis", "/version", "/api/v1/nodes", "/apis/networking.k8s.io/v1/ingresses", "/openapi/v2",
)

var namespaces = []string{"default", "kube-system", "openunison", "monitoring", "team-a", "team-b", "payments", "ingress-nginx"}

// expand spells out every template once per namespace, so the hot loop
// picks a finished string instead of building one.
func expand(templates ...string) []string {
	var out []string
	for _, t := range templates {
		if !strings.Contains(t, "{ns}") {
			out = append(out, t)
			continue
		}
		for _, ns := range namespaces {
			out = append(out, strings.ReplaceAll(t, "{ns}", ns))
		}
	}
	return out
}
