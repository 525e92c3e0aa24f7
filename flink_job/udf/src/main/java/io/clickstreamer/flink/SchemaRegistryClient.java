package io.clickstreamer.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.avro.Schema;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The one Schema Registry call the decoder needs: {@code GET /schemas/ids/{id}} (Confluent REST API,
 * also served by compatible registries). A 404 means the record names a schema that does not
 * exist: the record is malformed. Anything else that fails (no answer, 5xx) is an outage, not bad
 * data: it is retried a few times and then raised, so Flink restarts the task from its last
 * checkpoint instead of discarding good records as malformed.
 */
final class SchemaRegistryClient {

    /** The registry has no schema with this id (HTTP 404), or it is not an Avro schema. */
    static final class UnknownSchema extends Exception {
        UnknownSchema(String message) {
            super(message);
        }
    }

    private static final int ATTEMPTS = 4;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String baseUrl;
    private final HttpClient http;

    SchemaRegistryClient(String baseUrl) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    }

    String baseUrl() {
        return baseUrl;
    }

    Schema schemaById(int id) throws UnknownSchema {
        URI uri = URI.create(baseUrl + "/schemas/ids/" + id);
        HttpRequest request = HttpRequest.newBuilder(uri)
                .timeout(Duration.ofSeconds(10))
                .header("Accept", "application/vnd.schemaregistry.v1+json, application/json")
                .GET()
                .build();
        String lastProblem = "";
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            try {
                HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                int status = response.statusCode();
                if (status == 404) {
                    throw new UnknownSchema("schema id " + id + " is not in the schema registry");
                }
                if (status == 200) {
                    return parse(id, response.body());
                }
                lastProblem = "HTTP " + status + ": " + abbreviate(response.body());
            } catch (IOException e) {
                lastProblem = e.getClass().getSimpleName() + ": " + e.getMessage();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while asking " + uri, e);
            }
            sleep(250L << attempt);
        }
        throw new IllegalStateException(
                "schema registry unavailable: GET " + uri + " failed " + ATTEMPTS + " times; last: " + lastProblem);
    }

    private static Schema parse(int id, String body) throws UnknownSchema {
        try {
            JsonNode node = JSON.readTree(body);
            JsonNode type = node.get("schemaType");
            if (type != null && !type.isNull() && !"AVRO".equals(type.asText())) {
                throw new UnknownSchema("schema id " + id + " is a " + type.asText() + " schema, not Avro");
            }
            JsonNode schema = node.get("schema");
            if (schema == null || !schema.isTextual()) {
                throw new IllegalStateException("schema registry answered without a `schema` string: " + abbreviate(body));
            }
            return new Schema.Parser().parse(schema.asText());
        } catch (IOException e) {
            throw new IllegalStateException("schema registry answered with invalid JSON: " + abbreviate(body), e);
        } catch (org.apache.avro.SchemaParseException e) {
            throw new UnknownSchema("schema id " + id + " is not a valid Avro schema: " + e.getMessage());
        }
    }

    private static String abbreviate(String text) {
        return text.length() > 200 ? text.substring(0, 200) + "..." : text;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
