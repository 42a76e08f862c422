/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Layer test filter: the input picture's colours turned over",
    "CATEGORIES": ["Test", "Filter"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image"}
    ]
}*/

void main() {
    vec4 picture = IMG_THIS_PIXEL(inputImage);
    gl_FragColor = vec4(1.0 - picture.rgb, 1.0);
}
