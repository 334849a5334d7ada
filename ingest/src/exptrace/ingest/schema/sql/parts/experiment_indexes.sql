-- Skip indexes on our Experiments column (every signal table).
    INDEX idx_exp_key mapKeys(Experiments) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_exp_value mapValues(Experiments) TYPE bloom_filter(0.01) GRANULARITY 1
