"""Helpers around torch.onnx.export: the legacy TorchScript exporter and the dynamo one."""
import inspect

import torch


def export_legacy(model, example, path, opset, input_names=("input",), output_names=("logits",)):
    kwargs = dict(
        opset_version=opset,
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_axes={input_names[0]: {0: "batch"}, output_names[0]: {0: "batch"}},
        do_constant_folding=True,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, (example,), path, **kwargs)


def export_dynamo(model, example, path, opset, input_names=("input",), output_names=("logits",)):
    """The torch.export-based exporter (dynamo=True), batch axis dynamic, weights embedded.

    `example` needs a batch of at least 2: torch.export specializes a length-1 axis."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    model.eval()
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            path,
            dynamo=True,
            opset_version=opset,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_shapes=({0: batch},),
            external_data=False,
        )
