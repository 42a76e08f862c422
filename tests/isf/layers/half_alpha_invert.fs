/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Layer test filter: the input inverted, written with alpha 0.5",
    "CATEGORIES": ["Test", "Filter"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image"}
    ]
}*/

void main() {
    vec4 picture = IMG_THIS_PIXEL(inputImage);
    gl_FragColor = vec4(1.0 - picture.rgb, 0.5);
}
