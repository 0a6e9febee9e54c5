from ganjax.evaluation.stats import (DEFAULT_MAX_STORED_FEATURES, ClassifierScoreStats,
                                     Moments, class_histogram_stats, classifier_score,
                                     classifier_score_finalize, classifier_score_init,
                                     classifier_score_update, density_coverage,
                                     fid_from_features, frechet_distance, kid,
                                     moments_finalize, moments_init, moments_merge,
                                     moments_update, polynomial_mmd2, precision_recall)
