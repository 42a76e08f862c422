/*{
    "DESCRIPTION": "Test filter with its own vertex shader (vertex.vs beside it)",
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image"},
        {"NAME": "spread", "TYPE": "float", "MIN": 0.0, "MAX": 0.1, "DEFAULT": 0.02}
    ]
}*/

varying vec2 left_coord;
varying vec2 right_coord;

void main() {
    gl_FragColor = 0.5 * (IMG_NORM_PIXEL(inputImage, left_coord)
                          + IMG_NORM_PIXEL(inputImage, right_coord));
}
