// certbound interop: the JDK's java.net.http.HttpClient with a PKCS#12 KeyManager gets a
// certificate-bound token over mTLS and calls the API through the gateway; the same token with
// another PKCS#12 identity is refused. Single file, JDK 17, no build tool:
//   java JavaClient.java ISSUER API_URL CLIENT.p12 PASSWORD CA.pem OTHER.p12
// Prints one line of JSON; exits non-zero on any mismatch.

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.util.Base64;
import java.util.Collections;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class JavaClient {
    static KeyStore identity(String p12, String password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(Path.of(p12))) {
            ks.load(in, password.toCharArray());
        }
        return ks;
    }

    static HttpClient client(KeyStore ks, String password, String ca) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(Path.of(ca))) {
            trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, password.toCharArray());
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return HttpClient.newBuilder().sslContext(ctx).build();
    }

    static String field(String json, String regex) {
        Matcher m = Pattern.compile(regex).matcher(json);
        if (!m.find()) throw new IllegalStateException("not found: " + regex + " in " + json);
        return m.group(1);
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new IllegalStateException(what);
    }

    public static void main(String[] a) throws Exception {
        String issuer = a[0], api = a[1], p12 = a[2], password = a[3], ca = a[4], otherP12 = a[5];
        KeyStore ks = identity(p12, password);
        HttpClient http = client(ks, password, ca);
        String meta = http.send(HttpRequest.newBuilder(URI.create(issuer + "/.well-known/oauth-authorization-server")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        String aliases = field(meta, "\"mtls_endpoint_aliases\":\\{([^}]*)\\}");
        String tokenEndpoint = field(aliases, "\"token_endpoint\":\"([^\"]+)\"");
        HttpResponse<String> token = http.send(HttpRequest.newBuilder(URI.create(tokenEndpoint))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("grant_type=client_credentials&client_id=partner-a")).build(),
                HttpResponse.BodyHandlers.ofString());
        check(token.statusCode() == 200, "token: " + token.statusCode() + " " + token.body());
        String jwt = field(token.body(), "\"access_token\":\"([^\"]+)\"");
        String claims = new String(Base64.getUrlDecoder().decode(jwt.split("\\.")[1]), StandardCharsets.UTF_8);
        String bound = field(claims, "\"x5t#S256\":\"([^\"]+)\"");
        String alias = Collections.list(ks.aliases()).stream().filter(x -> {
            try { return ks.isKeyEntry(x); } catch (Exception e) { return false; }
        }).findFirst().orElseThrow();
        byte[] der = ks.getCertificate(alias).getEncoded();
        String expected = Base64.getUrlEncoder().withoutPadding().encodeToString(MessageDigest.getInstance("SHA-256").digest(der));
        check(bound.equals(expected), "cnf " + bound + " != " + expected);

        HttpRequest call = HttpRequest.newBuilder(URI.create(api)).header("Authorization", "Bearer " + jwt)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"amount\":1}")).build();
        int ok = http.send(call, HttpResponse.BodyHandlers.ofString()).statusCode();
        check(ok == 201, "API with the right certificate: " + ok);
        HttpClient other = client(identity(otherP12, password), password, ca);
        HttpResponse<String> stolen = other.send(call, HttpResponse.BodyHandlers.ofString());
        check(stolen.statusCode() == 401, "API with another certificate: " + stolen.statusCode());
        check(stolen.headers().firstValue("www-authenticate").orElse("").contains("invalid_token"), "challenge");
        System.out.println("{\"client\":\"java\",\"version\":\"" + System.getProperty("java.version") + "\",\"bound\":\"" + bound
                + "\",\"api\":" + ok + ",\"stolen\":" + stolen.statusCode() + "}");
    }
}
