"""Multiple-instance learning (MIL): one label for a bag of instances, pooled by attention.

Ilse, Tomczak & Welling 2018, "Attention-based Deep Multiple Instance Learning" (ICML, arXiv 1802.04712).
A bag ``X = {x_1, ..., x_K}`` (K varies from bag to bag) is positive iff at least one instance is. An
encoder maps each instance to ``h_k ∈ R^D``; a permutation-invariant pooling makes one bag embedding
``z``; a linear head gives the bag logit. Poolings:

- max / mean over the instances, per feature (:func:`mil_pool`);
- attention: ``a_k = softmax_k(wᵀ tanh(V h_k))``, ``z = Σ_k a_k h_k``;
- gated attention: ``a_k = softmax_k(wᵀ (tanh(V h_k) ⊙ sigmoid(U h_k)))``.

The weights ``a_k`` say which instances made the decision: trained with bag labels only, they localise the
positive instances (:func:`instance_auc`). :func:`make_digit_bags` builds the paper's MNIST-bags from
scikit-learn's 8×8 digits; :func:`train_mil` / :func:`mil_accuracy` train and score a model in seconds.

Whole-slide images have 10⁴–10⁵ patches per bag: :func:`saved_activation_bytes` measures what autograd keeps
for the backward pass, linear in the number of patches, which is why such pipelines freeze the encoder.
"""

from .bags import instance_auc, make_digit_bags, mil_accuracy, train_mil
from .memory import saved_activation_bytes
from .pooling import AttentionMILPooling, MILClassifier, digit_encoder, mil_pool

__all__ = [
    "mil_pool",
    "AttentionMILPooling",
    "MILClassifier",
    "digit_encoder",
    "make_digit_bags",
    "train_mil",
    "mil_accuracy",
    "instance_auc",
    "saved_activation_bytes",
]
