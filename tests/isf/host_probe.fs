/*{
    "DESCRIPTION": "Host test filter: each probe samples inputImage a different way",
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image"},
        {"NAME": "probe", "TYPE": "long", "VALUES": [0, 1, 2, 3, 4], "DEFAULT": 0,
         "LABELS": ["this pixel", "norm pixel", "pixel", "texture2D", "sizes"]}
    ]
}*/

void main() {
    vec2 pixel = gl_FragCoord.xy * IMG_SIZE(inputImage) / RENDERSIZE;
    if (probe == 0) {
        gl_FragColor = IMG_THIS_PIXEL(inputImage);
    } else if (probe == 1) {
        gl_FragColor = IMG_NORM_PIXEL(inputImage, isf_FragNormCoord);
    } else if (probe == 2) {
        gl_FragColor = IMG_PIXEL(inputImage, pixel);
    } else if (probe == 3) {
        gl_FragColor = texture2D(inputImage, isf_FragNormCoord);
    } else {
        gl_FragColor = vec4(IMG_SIZE(inputImage) / 255.0, _inputImage_imgSize.x / 255.0,
                            1.0) + vec4(0.0, 0.0, _inputImage_imgRect.w * 0.0, 0.0);
    }
}
