/*
 * readings: an MQTT function. Each message on a topic it subscribes to (see the Caddyfile)
 * runs it as a job; the topic, QoS and retain flag come as headers (X-Mqtt-Topic,
 * X-Mqtt-Qos, X-Mqtt-Retain) and the payload as the body. It keeps the latest reading of each
 * sensor under "readings/<sensor>" (the second level of sensors/<sensor>/temperature), and an
 * HTTP GET /readings?sensor=NAME answers with it.
 */
#include <string.h>

#include "pyjinn.h"

#define PREFIX "sensors/"
#define MAX_SENSOR 64

static int reply(int status, const char *body, size_t length) {
    pyjinn_response_header type = {"Content-Type", "text/plain; charset=utf-8"};
    return pyjinn_respond(status, &type, 1, body, length) == PYJINN_OK ? 0 : 1;
}

/* "sensors/hall/temperature" -> "readings/hall"; 0 when the topic has no sensor name that
 * fits a key (letters, digits, '_', '-'). */
static int key_for(const char *topic, char *key, size_t size) {
    if (!topic || strncmp(topic, PREFIX, strlen(PREFIX)) != 0) return 0;
    const char *sensor = topic + strlen(PREFIX);
    size_t length = strcspn(sensor, "/");
    if (length == 0 || length > MAX_SENSOR || length + 10 > size) return 0;
    for (size_t i = 0; i < length; i++) {
        char c = sensor[i];
        int fits = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
        if (!fits) return 0;
    }
    memcpy(key, "readings/", 9);
    memcpy(key + 9, sensor, length);
    key[9 + length] = '\0';
    return 1;
}

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    char key[MAX_SENSOR + 16];
    /* Only pyjinn makes ASYNC requests (its HTTP server refuses that method): an HTTP
     * client's X-Mqtt-Topic is not a message. */
    const char *topic = pyjinn_header(&request, "X-Mqtt-Topic");
    if (strcmp(request.method, "ASYNC") == 0 && topic) {
        if (!key_for(topic, key, sizeof key)) {
            pyjinn_log(PYJINN_WARN, "ignoring a message on a topic without a sensor name");
            return reply(200, "ignored", 7); /* succeeds: no point in retrying it */
        }
        if (pyjinn_kv_set(key, request.body, request.body_length) != PYJINN_OK) {
            pyjinn_log(PYJINN_ERROR, pyjinn_last_error());
            return 1; /* retried by the job queue; acknowledged to the broker once it ends */
        }
        return reply(200, "stored", 6);
    }
    const char *sensor = pyjinn_query(&request, "sensor");
    char wanted[MAX_SENSOR + 32] = PREFIX;
    if (!sensor || strlen(sensor) > MAX_SENSOR) return reply(400, "give ?sensor=NAME", 17);
    strcat(wanted, sensor);
    if (!key_for(wanted, key, sizeof key)) return reply(400, "invalid sensor name", 19);
    char *value;
    size_t length;
    int status = pyjinn_kv_get(key, &value, &length);
    if (status == PYJINN_NOT_FOUND) return reply(404, "no reading yet", 14);
    if (status != PYJINN_OK) return 1;
    return reply(200, value, length);
}
