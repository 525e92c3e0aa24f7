package io.clickstreamer.flink;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.KafkaSinkBuilder;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.kafka.clients.producer.ProducerRecord;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Connector {@code kafka-messages}: writes rows {@code (record_key STRING, value BYTES)}, messages
 * rendered already, as Kafka records with exactly those key and value bytes, through Flink's own
 * {@link KafkaSink}: the same producer, delivery guarantees and transactions as connector
 * {@code kafka} with {@code key.format = raw}, {@code value.format = raw}. Options: {@code topic},
 * {@code properties.bootstrap.servers}, {@code properties.*}, {@code sink.delivery-guarantee},
 * {@code sink.transactional-id-prefix}, as there.
 *
 * <p>Why not connector {@code kafka}: for each record its serializer projects key and value into
 * new rows, looks the topic up through a stream and reads absent metadata; at one record per page
 * view (before views were packed into messages) that was a tenth of the job's time. The records
 * are the same: no partition (Kafka's
 * partitioner hashes the key), no timestamp (the producer's clock), no headers.
 */
public final class MessageSinkFactory implements DynamicTableSinkFactory {

    public static final String IDENTIFIER = "kafka-messages";

    static final ConfigOption<String> TOPIC = ConfigOptions.key("topic").stringType().noDefaultValue()
            .withDescription("The topic written to.");
    static final ConfigOption<String> BOOTSTRAP_SERVERS = ConfigOptions.key("properties.bootstrap.servers")
            .stringType().noDefaultValue().withDescription("Kafka bootstrap servers.");
    static final ConfigOption<DeliveryGuarantee> DELIVERY_GUARANTEE = ConfigOptions.key("sink.delivery-guarantee")
            .enumType(DeliveryGuarantee.class).defaultValue(DeliveryGuarantee.AT_LEAST_ONCE)
            .withDescription("As connector kafka's.");
    static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX = ConfigOptions.key("sink.transactional-id-prefix")
            .stringType().noDefaultValue().withDescription("As connector kafka's; required for exactly-once.");

    private static final String PROPERTIES_PREFIX = "properties.";

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(TOPIC, BOOTSTRAP_SERVERS);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(DELIVERY_GUARANTEE, TRANSACTIONAL_ID_PREFIX);
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validateExcept(PROPERTIES_PREFIX);
        ReadableConfig options = helper.getOptions();
        DataType row = context.getPhysicalRowDataType();
        List<String> names = DataType.getFieldNames(row);
        List<DataType> types = DataType.getFieldDataTypes(row);
        if (!names.equals(List.of("record_key", "value"))
                || !types.get(0).getLogicalType().is(LogicalTypeRoot.VARCHAR)
                || !types.get(1).getLogicalType().is(LogicalTypeRoot.VARBINARY)) {
            throw new ValidationException(IDENTIFIER + " writes (record_key STRING, value BYTES), not " + row);
        }
        DeliveryGuarantee guarantee = options.get(DELIVERY_GUARANTEE);
        String prefix = options.getOptional(TRANSACTIONAL_ID_PREFIX).orElse(null);
        if (guarantee == DeliveryGuarantee.EXACTLY_ONCE && prefix == null) {
            throw new ValidationException(TRANSACTIONAL_ID_PREFIX.key() + " must be set for exactly-once");
        }
        Properties properties = new Properties();
        for (Map.Entry<String, String> option : context.getCatalogTable().getOptions().entrySet()) {
            if (option.getKey().startsWith(PROPERTIES_PREFIX)) {
                properties.put(option.getKey().substring(PROPERTIES_PREFIX.length()), option.getValue());
            }
        }
        return new Sink(options.get(TOPIC), properties, guarantee, prefix);
    }

    private static final class Sink implements DynamicTableSink {

        private final String topic;
        private final Properties properties;
        private final DeliveryGuarantee guarantee;
        private final String transactionalIdPrefix;

        Sink(String topic, Properties properties, DeliveryGuarantee guarantee, String transactionalIdPrefix) {
            this.topic = topic;
            this.properties = properties;
            this.guarantee = guarantee;
            this.transactionalIdPrefix = transactionalIdPrefix;
        }

        @Override
        public ChangelogMode getChangelogMode(ChangelogMode requestedMode) {
            return ChangelogMode.insertOnly();
        }

        @Override
        public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
            KafkaSinkBuilder<RowData> builder = KafkaSink.builder();
            if (transactionalIdPrefix != null) {
                builder.setTransactionalIdPrefix(transactionalIdPrefix);
            }
            return SinkV2Provider.of(builder
                    .setDeliveryGuarantee(guarantee)
                    .setBootstrapServers(properties.getProperty("bootstrap.servers"))
                    .setKafkaProducerConfig(properties)
                    .setRecordSerializer(new Serializer(topic))
                    .build());
        }

        @Override
        public DynamicTableSink copy() {
            return new Sink(topic, properties, guarantee, transactionalIdPrefix);
        }

        @Override
        public String asSummaryString() {
            return IDENTIFIER + "(" + topic + ")";
        }
    }

    private static final class Serializer implements KafkaRecordSerializationSchema<RowData> {

        private static final long serialVersionUID = 1L;

        private final String topic;

        Serializer(String topic) {
            this.topic = topic;
        }

        @Override
        public ProducerRecord<byte[], byte[]> serialize(RowData row, KafkaSinkContext context, Long timestamp) {
            byte[] key = row.isNullAt(Pageviews.MESSAGE_KEY) ? null : row.getString(Pageviews.MESSAGE_KEY).toBytes();
            byte[] value = row.isNullAt(Pageviews.MESSAGE_VALUE) ? null : row.getBinary(Pageviews.MESSAGE_VALUE);
            return new ProducerRecord<>(topic, null, null, key, value);
        }
    }
}
